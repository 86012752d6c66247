"""Server-rendered pages: the landing page and the sandbox payment page (more to come)."""
