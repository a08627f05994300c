"""Rooms: no import loops between the package's folders and top-level modules (every import counts,
lazy ones included), and the runtime path stays torch-free."""
import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "avsc_edge"


def room_of(module: str) -> str:
    """``avsc_edge.runtime.batch`` -> ``runtime``; ``avsc_edge.windows`` -> ``windows``."""
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


def test_runtime_does_not_import_export_training_or_benchmarks():
    graph = room_graph()
    for room in ("runtime", "media", "stream", "windows", "classifier", "artifact"):
        assert not graph.get(room, set()) & {"export", "train", "bench", "cli", "demo", "evaluation"}, room
    for room in ("media", "windows", "artifact", "features", "config"):   # the ground floor
        assert not graph.get(room, set()) & {"runtime", "stream", "classifier", "data", "model"}, room
