"""What the synthetic world contains: sound-and-sight *sources* and each scene's mix of them.

A source is an (audio event, visual object) pair that co-occur: a horn with a car, birdsong with a
tree. Every clip holds its scene's *signature* source, always heard and seen, plus a few *context*
sources from the city's background, drawn alike in every scene (people talking in a crowd, a bus
passing, an announcement behind a window). The difficulty is designed, as in real recordings: each
modality alone confuses three pairs of scenes that the other modality tells apart --

* heard alike: bus and street_traffic (an engine), metro and tram (rail clatter), metro_station and
  street_pedestrian (footsteps);
* seen alike: airport and shopping_mall (display boards), bus and metro (sliding doors), park and
  public_square (trees).

So a perfect tagger with a linear head reaches about 0.7 from either modality alone and about 1.0
from both (``data.ceilings`` measures it on every dataset ``synth`` writes).
"""
from __future__ import annotations

from ..labels import EVENTS, OBJECTS, SCENES

SIGNATURES: dict[str, tuple[str, str]] = {
    "airport": ("jet_roar", "display_board"),
    "shopping_mall": ("chimes", "display_board"),
    "bus": ("engine_hum", "sliding_door"),
    "street_traffic": ("engine_hum", "car"),
    "metro": ("rail_clack", "sliding_door"),
    "tram": ("rail_clack", "overhead_wire"),
    "park": ("bird_chirp", "tree"),
    "public_square": ("fountain_splash", "tree"),
    "metro_station": ("footsteps", "rail"),
    "street_pedestrian": ("footsteps", "person"),
}
# the city's background, the same in every scene: (source, weight)
CONTEXT: tuple[tuple[tuple[str, str], float], ...] = (
    (("speech_babble", "crowd"), 0.30),
    (("announcement", "window"), 0.20),
    (("car_horn", "bus_body"), 0.20),
    (("door_beep", "shop_sign"), 0.15),
    (("bell_ding", "fountain"), 0.15),
)

SOURCES: tuple[tuple[str, str], ...] = tuple(SIGNATURES[s] for s in SCENES) + tuple(src for src, _ in CONTEXT)
CONTEXT_IDS: tuple[int, ...] = tuple(SOURCES.index(src) for src, _ in CONTEXT)

# scene -> {source id: weight}; the signature (weight 1) is in every clip of its scene
SCENE_SOURCES: dict[str, dict[int, float]] = {
    scene: {SOURCES.index(SIGNATURES[scene]): 1.0, **{SOURCES.index(src): w for src, w in CONTEXT}}
    for scene in SCENES
}

assert len(set(SOURCES)) == len(SOURCES)
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
