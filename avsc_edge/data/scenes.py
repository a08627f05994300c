"""What the synthetic world contains: sound-and-sight *sources* and each scene's mix of them.

A source is an (audio event, visual object) pair that co-occur: a horn with a car, birdsong with a
tree. Single modalities are ambiguous on purpose (so that fusion has something to add):

* bus and tram sound the same (engine hum, speech, door beeps, horns) and differ only in sight
  (a bus body versus a tram's overhead wire);
* airport and metro_station look the same (display boards, windows, crowds, people) and differ only
  in sound (a jet roar versus rail clatter behind the windows).
"""
from __future__ import annotations

from ..labels import EVENTS, OBJECTS, SCENES

SOURCES: tuple[tuple[str, str], ...] = (
    ("engine_hum", "bus_body"),          # 0
    ("engine_hum", "overhead_wire"),     # 1 tram motor
    ("car_horn", "car"),                 # 2
    ("bird_chirp", "tree"),              # 3
    ("footsteps", "person"),             # 4
    ("speech_babble", "crowd"),          # 5
    ("chimes", "shop_sign"),             # 6
    ("rail_clack", "rail"),              # 7
    ("jet_roar", "window"),              # 8 planes behind the terminal windows
    ("rail_clack", "window"),            # 9 trains behind the platform's glass
    ("door_beep", "sliding_door"),       # 10
    ("announcement", "display_board"),   # 11
    ("fountain_splash", "fountain"),     # 12
    ("bell_ding", "overhead_wire"),      # 13 tram bell
)

SCENE_SOURCES: dict[str, dict[int, float]] = {
    "airport": {11: 0.30, 8: 0.30, 5: 0.20, 4: 0.20},
    "metro_station": {11: 0.30, 9: 0.30, 5: 0.20, 4: 0.20},
    "bus": {0: 0.35, 5: 0.20, 10: 0.30, 2: 0.15},
    "tram": {1: 0.35, 5: 0.20, 10: 0.30, 2: 0.15},
    "metro": {7: 0.35, 10: 0.30, 5: 0.20, 11: 0.15},
    "park": {3: 0.45, 4: 0.25, 12: 0.20, 5: 0.10},
    "public_square": {12: 0.35, 5: 0.25, 4: 0.25, 3: 0.15},
    "shopping_mall": {6: 0.40, 5: 0.25, 4: 0.20, 11: 0.15},
    "street_pedestrian": {4: 0.40, 5: 0.25, 6: 0.20, 2: 0.15},
    "street_traffic": {2: 0.45, 0: 0.25, 4: 0.15, 3: 0.15},
}

assert set(SCENE_SOURCES) == set(SCENES)
assert all(e in EVENTS and o in OBJECTS for e, o in SOURCES)



# The congruence benchmark (``SynthConfig(congruence=True)``): four pairs of scenes whose events and
# objects follow the same distributions and differ only in WHICH event goes with WHICH object. A
# clip of the first scene holds one of (e1, o1) / (e2, o2), of the second one of (e1, o2) / (e2, o1),
# plus context sources shared by both: neither modality alone tells a pair apart, the congruence
# between them does (an XOR). metro and street_traffic keep their sources.
CONGRUENCE_PAIRS: tuple[tuple[str, str, tuple[str, str], tuple[str, str]], ...] = (
    ("bus", "tram", ("engine_hum", "door_beep"), ("bus_body", "sliding_door")),
    ("airport", "metro_station", ("jet_roar", "announcement"), ("window", "display_board")),
    ("park", "public_square", ("bird_chirp", "fountain_splash"), ("tree", "fountain")),
    ("street_pedestrian", "shopping_mall", ("footsteps", "chimes"), ("person", "shop_sign")),
)


def congruence_plan(scene: str) -> tuple[list[tuple[str, str]], list[int]] | None:
    """(the two key pairs of ``scene``, context source ids) in the congruence benchmark, or None for
    a scene outside the four pairs."""
    for first, second, (e1, e2), (o1, o2) in CONGRUENCE_PAIRS:
        if scene in (first, second):
            keys = [(e1, o1), (e2, o2)] if scene == first else [(e1, o2), (e2, o1)]
            used = {e1, e2, o1, o2}
            context = sorted({src for sc in (first, second) for src in SCENE_SOURCES[sc]
                              if not used & set(SOURCES[src])})
            return keys, context
    return None
