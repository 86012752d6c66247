"""Distances on the globe and a small gazetteer of cities for addresses without coordinates."""

from __future__ import annotations

import math

EARTH_RADIUS_KM = 6371.0088

# City -> (latitude, longitude). Enough for the demo and for addresses that name a major city;
# clients with a geocoder send coordinates instead.
CITIES: dict[str, tuple[float, float]] = {
    "beijing": (39.9042, 116.4074),
    "shanghai": (31.2304, 121.4737),
    "guangzhou": (23.1291, 113.2644),
    "shenzhen": (22.5431, 114.0579),
    "hangzhou": (30.2741, 120.1551),
    "chengdu": (30.5728, 104.0668),
    "chongqing": (29.5630, 106.5516),
    "wuhan": (30.5928, 114.3055),
    "xian": (34.3416, 108.9398),
    "nanjing": (32.0603, 118.7969),
    "tianjin": (39.3434, 117.3616),
    "suzhou": (31.2989, 120.5853),
    "zhengzhou": (34.7466, 113.6254),
    "changsha": (28.2282, 112.9388),
    "shenyang": (41.8057, 123.4315),
    "qingdao": (36.0671, 120.3826),
    "xiamen": (24.4798, 118.0894),
    "kunming": (25.0389, 102.7183),
    "harbin": (45.8038, 126.5349),
    "jinan": (36.6512, 117.1201),
    "dalian": (38.9140, 121.6147),
    "fuzhou": (26.0745, 119.2965),
    "hefei": (31.8206, 117.2272),
    "nanning": (22.8170, 108.3665),
    "guiyang": (26.6470, 106.6302),
    "urumqi": (43.8256, 87.6168),
    "lanzhou": (36.0611, 103.8343),
    "yiwu": (29.3069, 120.0751),
    "dongguan": (23.0207, 113.7518),
    "foshan": (23.0215, 113.1214),
    "ningbo": (29.8683, 121.5440),
    "hong kong": (22.3193, 114.1694),
    "taipei": (25.0330, 121.5654),
}


def city_coordinates(city: str) -> tuple[float, float] | None:
    key = city.strip().lower().replace("'", "").replace("-", " ")
    key = key.removesuffix(" shi").removesuffix(" city").strip()
    return CITIES.get(key) or CITIES.get(key.replace(" ", ""))


def distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle (haversine) distance between two (lat, lon) points."""
    lat1, lon1 = map(math.radians, a)
    lat2, lon2 = map(math.radians, b)
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))
