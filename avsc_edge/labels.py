"""The label vocabularies: the 10 TAU scenes, and the audio events / visual objects of the model."""
from __future__ import annotations

SCENES: tuple[str, ...] = (
    "airport", "bus", "metro", "metro_station", "park",
    "public_square", "shopping_mall", "street_pedestrian", "street_traffic", "tram",
)

# Which event goes with which object is not a one-to-one map (an engine hum goes with a bus or a
# tram's overhead wire): the synthetic generator's sources (avsc_edge.data.scenes) define it.
EVENTS: tuple[str, ...] = (
    "engine_hum", "car_horn", "bird_chirp", "footsteps", "speech_babble", "chimes",
    "rail_clack", "jet_roar", "door_beep", "announcement", "fountain_splash", "bell_ding",
)
OBJECTS: tuple[str, ...] = (
    "bus_body", "car", "tree", "person", "crowd", "shop_sign",
    "rail", "window", "sliding_door", "display_board", "fountain", "overhead_wire",
)
