"""The rooms and their one-way arrows (docs/architecture.md), checked on the source itself."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "characters"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _sources() -> dict[str, Path]:
    return {_module_name(p): p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts}


def _resolve(module: str, path: Path, node: ast.ImportFrom) -> list[str]:
    if node.level == 0:
        base = node.module or ""
    else:
        package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        package = package[: len(package) - (node.level - 1)]
        base = ".".join([*package, node.module] if node.module else package)
    return [base] + [f"{base}.{alias.name}" for alias in node.names]


def _imports(top_level_only: bool) -> dict[str, set[str]]:
    sources = _sources()
    graph: dict[str, set[str]] = {}
    for module, path in sources.items():
        tree = ast.parse(path.read_text())
        nodes = tree.body if top_level_only else list(ast.walk(tree))
        found: set[str] = set()
        for node in nodes:
            if isinstance(node, ast.ImportFrom):
                found.update(n for n in _resolve(module, path, node) if n in sources)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name in sources)
        graph[module] = found - {module}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            # A package's own __init__ re-exporting its modules is not a loop back into it.
            if nxt.startswith(node + "."):
                continue
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_there_are_no_import_loops():
    graph = _imports(top_level_only=False)
    # A module importing a sibling through its package (`from . import services`) depends on
    # the package's modules, not on a loop: collapse "characters.services" onto its areas.
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def test_imports_inside_functions_say_why():
    unexplained = []
    for module, path in _sources().items():
        lines = path.read_text().splitlines()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                for inner in ast.walk(node):
                    if isinstance(inner, ast.Import | ast.ImportFrom):
                        line = lines[inner.lineno - 1]
                        above = lines[inner.lineno - 2].strip() if inner.lineno > 1 else ""
                        if "#" not in line and not above.startswith("#"):
                            unexplained.append(f"{module}:{inner.lineno}")
    assert unexplained == []


@pytest.mark.parametrize(
    ("room", "must_not_import"),
    [
        # Services never import a concrete generator: only the protocol and the routing.
        (
            "characters.services",
            (
                "characters.generators.offline",
                "characters.generators.offline_sheet",
                "characters.generators.offline_portrait",
                "characters.generators.recraft",
                "characters.generators.gemini",
                "characters.generators.seedance",
                "characters.tasks",
            ),
        ),
        # Views never call providers or run tasks: they call services and read selectors.
        ("characters.views", ("characters.generators", "characters.tasks")),
        # Generators never touch the database.
        ("characters.generators", ("characters.models", "characters.services", "django.db")),
    ],
)
def test_data_flows_one_way(room, must_not_import):
    offenders = []
    for module, path in _sources().items():
        if module != room and not module.startswith(room + "."):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom):
                names = _resolve(module, path, node)
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            offenders += [
                f"{module} imports {n}"
                for n in names
                if any(n == bad or n.startswith(bad + ".") for bad in must_not_import)
            ]
    assert offenders == []


def test_long_modules_say_why_at_the_top():
    unexplained = []
    for module, path in _sources().items():
        text = path.read_text()
        if len(text.splitlines()) > 500 and "Long because" not in "\n".join(text.splitlines()[:15]):
            unexplained.append(f"{module} ({len(text.splitlines())} lines)")
    assert unexplained == []


@pytest.mark.django_db
def test_a_new_stage_needs_a_table_row_a_handler_pair_and_a_generator_method(
    monkeypatch, settings, character, owner, run_inline
):
    """docs/architecture.md's "to add a stage" list, done once for a throwaway poster stage."""
    from PIL import Image

    from characters import services, stages, tasks
    from characters.generators.base import GeneratedAsset, GenerationRequest, GenerationResult
    from characters.generators.offline import OfflineGenerator, encode_png
    from characters.models import Asset, Generation

    # 1. A row in the stage table (label, question, default route, typical seconds).
    monkeypatch.setitem(
        stages.STAGES, "poster", stages.StageInfo("Poster", "A poster of the cast", "offline")
    )
    settings.TURNAROUND_ROUTES = {**settings.TURNAROUND_ROUTES, "poster": "offline"}

    # 2. The area's handler pair: build the request from the rows, keep the result.
    kept: list[Asset] = []

    def poster_request(generation: Generation) -> GenerationRequest:
        return GenerationRequest(stage="poster", prompt=generation.prompt, width=64, height=96)

    def poster_keep(generation: Generation, result: GenerationResult) -> None:
        kept.append(services.keep_result(generation, result))

    monkeypatch.setitem(
        tasks.STAGE_HANDLERS, "poster", tasks.StageHandler(poster_request, poster_keep)
    )

    # 3. A method on each generator that serves the stage (the offline one here).
    def _poster(self, request):
        img = Image.new("RGB", (request.width, request.height), (30, 60, 90))
        asset = GeneratedAsset(encode_png(img), "image/png", request.width, request.height)
        return [asset], {}

    monkeypatch.setattr(OfflineGenerator, "_poster", _poster, raising=False)

    generation = run_inline(
        services.generation_create,
        project=character.project,
        character=character,
        stage="poster",
        prompt="The cast on a pier at dusk",
        user=owner,
    )
    generation.refresh_from_db()
    assert generation.status == "succeeded" and generation.provider == "offline"
    (asset,) = kept
    assert (asset.width, asset.height) == (64, 96) and asset.generation == generation
    assert generation.typical_seconds == 30  # the table's default for a provider it doesn't list


@pytest.mark.django_db
def test_a_new_provider_needs_a_routing_row_a_key_setting_and_a_generator_class(
    monkeypatch, settings, character, owner, cast
):
    """docs/architecture.md's "to add a provider" list, done once for a throwaway provider."""
    from decimal import Decimal

    from characters.generators import routing
    from characters.generators.base import GeneratedAsset, GenerationResult
    from characters.generators.offline import draw_portrait, encode_png, traits_from

    class AcmeGenerator:
        name = "acme"

        def model_for(self, stage):
            return "acme-portrait-1"

        def estimate_cost(self, request):
            return Decimal("0.05")

        def generate(self, request):
            img, _ = draw_portrait(traits_from(request.prompt, request.seed or 0), 90, 120)
            asset = GeneratedAsset(encode_png(img), "image/png", 90, 120)
            return GenerationResult(
                assets=[asset], provider="acme", model="acme-portrait-1", cost_usd=Decimal("0.04")
            )

        def close(self):
            pass

    # 1. A row in routing.PROVIDERS: module, class, and the setting that holds its key.
    monkeypatch.setitem(routing.PROVIDERS, "acme", (__name__, "AcmeGenerator", "ACME_API_KEY"))
    monkeypatch.setattr(
        __import__(__name__, fromlist=["x"]), "AcmeGenerator", AcmeGenerator, raising=False
    )
    # 2. The key and the route, from settings (the environment in production).
    settings.ACME_API_KEY = "test-key"
    settings.TURNAROUND_ROUTES = {**settings.TURNAROUND_ROUTES, "casting": "acme"}

    (candidate,) = cast(character, owner, count=1)
    generation = candidate.generation
    assert (generation.provider, generation.model, generation.status) == (
        "acme",
        "acme-portrait-1",
        "succeeded",
    )
    assert generation.cost_usd == Decimal("0.04") and candidate.image.width == 90
    # Without its key the stage falls back to the offline generator, as every provider does.
    settings.ACME_API_KEY = ""
    assert routing.provider_for("casting") == "offline"


def test_every_file_the_architecture_doc_names_exists():
    doc = (ROOT / "docs" / "architecture.md").read_text()
    import re

    named = set(
        re.findall(r"`((?:characters|templates|tests|studio)/[\w/]+\.(?:py|html|md))`", doc)
    )
    assert len(named) > 10
    assert sorted(p for p in named if not (ROOT / p).exists()) == []
