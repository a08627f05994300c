"""Rooms: no import loops between the package's folders and top-level modules (every import counts,
lazy ones included), and the runtime path stays torch-free."""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "avsc_edge"


def room_of(module: str) -> str:
    """``avsc_edge.runtime.runner`` -> ``runtime``; ``avsc_edge.classifier`` -> ``classifier``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def imports_of(path: Path) -> set[str]:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    here = list(rel.parts if rel.name != "__init__" else rel.parts[:-1])
    package = here if path.name == "__init__.py" else here[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("avsc_edge")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
                found |= {mod} if node.module else {f"{mod}.{a.name}" for a in node.names}
            elif node.module and node.module.startswith("avsc_edge"):
                found.add(node.module)
    return found


def room_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        src = room_of(".".join(rel.parts))
        for target in imports_of(path):
            dst = room_of(target)
            if dst != src and dst != "avsc_edge":
                graph.setdefault(src, set()).add(dst)
    return graph


def find_cycle(graph):
    state, stack = {}, []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state and (c := visit(m)):
                return c
        state[n] = 2
        stack.pop()
        return None

    for n in sorted(graph):
        if n not in state and (c := visit(n)):
            return c
    return None


def test_no_import_loops_between_rooms():
    graph = room_graph()
    assert "runtime" in graph and "export" in graph  # the walk found the package
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


ABOVE_RUNTIME = {"export", "training", "bench", "cli"}
GROUND_FLOOR = ("config", "backbones", "errors", "labels", "formats", "kernels", "media", "preprocess")


def test_runtime_does_not_import_export_training_or_benchmarks():
    graph = room_graph()
    assert {"preprocess", "formats", "kernels", "training"} <= set(graph)   # the rooms exist
    for room in ("runtime", "media", "stream", "preprocess", "classifier", "formats", "kernels"):
        assert not graph.get(room, set()) & ABOVE_RUNTIME, room
    for room in GROUND_FLOOR:
        assert not graph.get(room, set()) & {"runtime", "stream", "classifier", "data", "model", *ABOVE_RUNTIME}, room


def test_nothing_below_the_front_door_calls_up_into_it():
    graph = room_graph()
    for room in ("runtime", "stream", *GROUND_FLOOR):
        assert "classifier" not in graph.get(room, set()), room


def test_one_module_runs_the_heads_over_windows():
    """The window -> batch -> backend -> heads composition lives in runtime/runner.py alone: other
    modules reach the heads through it (backends implement them; export traces the model's)."""
    callers = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "heads" \
                    and isinstance(node.func.value, ast.Attribute) and node.func.value.attr == "backend":
                callers.add(str(path.relative_to(PACKAGE)))
    assert callers == {"runtime/runner.py"}, callers
