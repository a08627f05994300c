"""The label vocabularies: the 10 TAU scenes, and the audio events / visual objects of the model."""
from __future__ import annotations

SCENES: tuple[str, ...] = (
    "airport", "bus", "metro", "metro_station", "park",
    "public_square", "shopping_mall", "street_pedestrian", "street_traffic", "tram",
)

# Event slot i and object slot i are the natural partners (horn <-> car, birdsong <-> tree, ...):
# the synthetic generator makes them co-occur, and CEOA alignment is measured against that pairing.
EVENTS: tuple[str, ...] = (
    "engine_hum", "car_horn", "bird_chirp", "footsteps", "speech_babble", "chimes",
    "rail_clack", "jet_roar", "door_beep", "announcement", "fountain_splash", "bell_ding",
)
OBJECTS: tuple[str, ...] = (
    "bus_body", "car", "tree", "person", "crowd", "shop_sign",
    "rail", "airplane", "sliding_door", "display_board", "fountain", "overhead_wire",
)
