from liveshop.cli import main

main()
