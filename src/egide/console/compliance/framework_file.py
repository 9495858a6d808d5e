"""Reading and validating framework and catalogue YAML files (no database here).

A framework file (`format: egide-framework/1`) lists themes and measures; a catalogue file
(`format: egide-catalogue/1`) lists the fiches that measures map to (CNIL guide 2024). Validation
walks PyYAML's node tree rather than the loaded values so that every refusal names the file and
the line, and so that duplicate keys (which PyYAML would silently overwrite) are caught.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .errors import ComplianceError

FRAMEWORK_FORMAT = "egide-framework/1"
CATALOGUE_FORMAT = "egide-catalogue/1"
#: What a practice may have, in the order the profile form asks; measures apply on these.
PROFILE_CONDITIONS = (
    "staff",
    "laptop",
    "smartphone",
    "website",
    "server",
    "wifi",
    "remote_access",
    "outsourced_hosting",
    "software_development",
    "large_group",
)
CONDITIONS = frozenset(PROFILE_CONDITIONS)
EVIDENCE_MODES = frozenset(
    {
        "automatic_backup",
        "automatic_messaging",
        "automatic_agent",
        "automatic_external",
        "platform",
        "attestation",
        "document",
    }
)
_MEASURE_ID = re.compile(r"^[A-Z]{2,5}-[A-Z]{2,4}-[0-9]{1,3}$")
_THEME_ID = re.compile(r"^[A-Z]{2,4}$")
_GUIDE_REF = re.compile(r"^([0-9]{1,2})(\.[0-9]{1,2})?$")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,59}$")


class FrameworkFileError(ComplianceError):
    """A framework or catalogue file refused at load, with its file, line and reason."""

    def __init__(self, path: Path, line: int, reason: str) -> None:
        super().__init__(f"{path}:{line}: {reason}")
        self.path = path
        self.line = line
        self.reason = reason


@dataclass(frozen=True)
class MeasureSpec:
    id: str
    theme: str
    title: str
    explanation: str
    question: str
    evidence: tuple[str, ...]
    renewal_days: int
    guide_2024: tuple[str, ...]
    applies_if: tuple[str, ...] = ()
    conditional: bool = False
    to_verify: bool = False


@dataclass(frozen=True)
class FrameworkSpec:
    path: Path
    sha256: str
    code: str
    version: str
    title: str
    source: str
    maps_to: str
    themes: tuple[tuple[str, str], ...]
    measures: tuple[MeasureSpec, ...]
    # line of each guide reference, to report an unknown fiche at the right place
    guide_lines: dict[tuple[str, str], int] = field(default_factory=dict)
    maps_to_line: int = 0


@dataclass(frozen=True)
class CatalogueSpec:
    path: Path
    code: str
    title: str
    fiches: dict[str, str]


class _Reader:
    """Typed accessors over YAML nodes that raise FrameworkFileError with the node's line."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, node: yaml.Node | None, reason: str) -> FrameworkFileError:
        line = node.start_mark.line + 1 if node is not None else 1
        return FrameworkFileError(self.path, line, reason)

    def mapping(
        self,
        node: yaml.Node,
        what: str,
        required: set[str],
        optional: frozenset[str] | set[str] = frozenset(),
    ) -> dict[str, yaml.Node]:
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, f"{what} doit être un dictionnaire")
        result: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise self.fail(key_node, f"{what} : clé invalide")
            key = str(key_node.value)
            if key in result:
                raise self.fail(key_node, f"{what} : clé « {key} » en double")
            if key not in required | optional:
                raise self.fail(key_node, f"{what} : clé inconnue « {key} »")
            result[key] = value_node
        missing = sorted(required - set(result))
        if missing:
            raise self.fail(node, f"{what} : clé obligatoire absente « {missing[0]} »")
        return result

    def text(self, node: yaml.Node, what: str, pattern: re.Pattern[str] | None = None) -> str:
        if not isinstance(node, yaml.ScalarNode) or node.tag != "tag:yaml.org,2002:str":
            raise self.fail(node, f"{what} doit être un texte")
        value = str(node.value).strip()
        if not value:
            raise self.fail(node, f"{what} est vide")
        if pattern is not None and not pattern.match(value):
            raise self.fail(node, f"{what} « {value} » a une forme invalide")
        return value

    def boolean(self, node: yaml.Node, what: str) -> bool:
        if not isinstance(node, yaml.ScalarNode) or node.tag != "tag:yaml.org,2002:bool":
            raise self.fail(node, f"{what} doit valoir true ou false")
        return str(node.value).lower() in {"true", "yes", "on"}

    def integer(self, node: yaml.Node, what: str, low: int, high: int) -> int:
        if not isinstance(node, yaml.ScalarNode) or node.tag != "tag:yaml.org,2002:int":
            raise self.fail(node, f"{what} doit être un nombre entier")
        try:
            value = int(str(node.value).replace("_", ""), 10)
        except ValueError:  # YAML 1.1 also calls 0x1F, 0o17 and 1:30 integers; we do not
            raise self.fail(node, f"{what} doit être un nombre entier décimal") from None
        if not low <= value <= high:
            raise self.fail(node, f"{what} doit être compris entre {low} et {high}")
        return value

    def sequence(self, node: yaml.Node, what: str) -> list[yaml.Node]:
        if not isinstance(node, yaml.SequenceNode):
            raise self.fail(node, f"{what} doit être une liste")
        return list(node.value)


def _compose(path: Path) -> tuple[yaml.Node, str]:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise FrameworkFileError(path, line, "le fichier n'est pas en UTF-8") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise FrameworkFileError(path, line, f"YAML illisible : {error.problem}") from None
    except yaml.YAMLError as error:
        raise FrameworkFileError(path, 1, f"YAML illisible : {error}") from None
    if node is None:
        raise FrameworkFileError(path, 1, "le fichier est vide")
    return node, hashlib.sha256(raw).hexdigest()


def _format_of(reader: _Reader, node: yaml.Node) -> str:
    if not isinstance(node, yaml.MappingNode):
        raise reader.fail(node, "le document doit être un dictionnaire")
    for key_node, value_node in node.value:
        if getattr(key_node, "value", None) == "format":
            return reader.text(value_node, "format")
    raise reader.fail(node, "clé obligatoire absente « format »")


def read_file(path: Path) -> FrameworkSpec | CatalogueSpec:
    """Parse and validate one file on its own (cross-file references are checked later)."""
    node, digest = _compose(path)
    reader = _Reader(path)
    kind = _format_of(reader, node)
    if kind == CATALOGUE_FORMAT:
        return _read_catalogue(reader, node)
    if kind == FRAMEWORK_FORMAT:
        return _read_framework(reader, node, digest)
    raise reader.fail(node, f"format inconnu « {kind} »")


def _read_catalogue(reader: _Reader, node: yaml.Node) -> CatalogueSpec:
    top = reader.mapping(node, "catalogue", {"format", "catalogue", "fiches"})
    head = reader.mapping(top["catalogue"], "catalogue", {"code", "title"})
    fiches: dict[str, str] = {}
    for fiche_node in reader.sequence(top["fiches"], "fiches"):
        fiche = reader.mapping(fiche_node, "fiche", {"id", "title"})
        fiche_id = reader.text(fiche["id"], "id de fiche", re.compile(r"^[0-9]{1,2}$"))
        if fiche_id in fiches:
            raise reader.fail(fiche["id"], f"fiche « {fiche_id} » en double")
        fiches[fiche_id] = reader.text(fiche["title"], "titre de fiche")
    return CatalogueSpec(
        path=reader.path,
        code=reader.text(head["code"], "code", _SLUG),
        title=reader.text(head["title"], "titre"),
        fiches=fiches,
    )


_MEASURE_REQUIRED = {"id", "theme", "title", "explanation", "question", "evidence"}
_MEASURE_OPTIONAL = {"renewal_days", "guide_2024", "applies_if", "conditional", "to_verify"}


def _read_framework(reader: _Reader, node: yaml.Node, digest: str) -> FrameworkSpec:
    top = reader.mapping(node, "référentiel", {"format", "framework", "themes", "measures"})
    head = reader.mapping(
        top["framework"], "framework", {"code", "version", "title"}, {"source", "maps_to"}
    )
    themes: dict[str, str] = {}
    for theme_node in reader.sequence(top["themes"], "themes"):
        theme = reader.mapping(theme_node, "thème", {"id", "title"})
        theme_id = reader.text(theme["id"], "id de thème", _THEME_ID)
        if theme_id in themes:
            raise reader.fail(theme["id"], f"thème « {theme_id} » en double")
        themes[theme_id] = reader.text(theme["title"], "titre de thème")
    measures: list[MeasureSpec] = []
    seen: set[str] = set()
    guide_lines: dict[tuple[str, str], int] = {}
    for measure_node in reader.sequence(top["measures"], "measures"):
        spec, lines = _read_measure(reader, measure_node, themes)
        if spec.id in seen:
            raise reader.fail(measure_node, f"mesure « {spec.id} » en double")
        seen.add(spec.id)
        measures.append(spec)
        guide_lines.update(lines)
    if not measures:
        raise reader.fail(top["measures"], "aucune mesure")
    maps_to = reader.text(head["maps_to"], "maps_to", _SLUG) if "maps_to" in head else ""
    return FrameworkSpec(
        path=reader.path,
        sha256=digest,
        code=reader.text(head["code"], "code", _SLUG),
        version=reader.text(head["version"], "version"),
        title=reader.text(head["title"], "titre"),
        source=reader.text(head["source"], "source") if "source" in head else "",
        maps_to=maps_to,
        themes=tuple(themes.items()),
        measures=tuple(measures),
        guide_lines=guide_lines,
        maps_to_line=head["maps_to"].start_mark.line + 1 if "maps_to" in head else 0,
    )


def _read_measure(
    reader: _Reader, node: yaml.Node, themes: dict[str, str]
) -> tuple[MeasureSpec, dict[tuple[str, str], int]]:
    item = reader.mapping(node, "mesure", _MEASURE_REQUIRED, _MEASURE_OPTIONAL)
    measure_id = reader.text(item["id"], "id de mesure", _MEASURE_ID)
    where = f"mesure {measure_id}"
    theme = reader.text(item["theme"], f"{where} : thème")
    if theme not in themes:
        raise reader.fail(item["theme"], f"{where} : thème « {theme} » non déclaré")
    evidence = []
    for mode_node in reader.sequence(item["evidence"], f"{where} : evidence"):
        mode = reader.text(mode_node, f"{where} : mode de preuve")
        if mode not in EVIDENCE_MODES:
            raise reader.fail(mode_node, f"{where} : mode de preuve inconnu « {mode} »")
        evidence.append(mode)
    if not evidence:
        raise reader.fail(item["evidence"], f"{where} : au moins un mode de preuve")
    conditions = []
    for condition_node in reader.sequence(
        item.get("applies_if", _empty()), f"{where} : applies_if"
    ):
        condition = reader.text(condition_node, f"{where} : condition")
        if condition not in CONDITIONS:
            raise reader.fail(condition_node, f"{where} : condition inconnue « {condition} »")
        conditions.append(condition)
    conditional = (
        reader.boolean(item["conditional"], f"{where} : conditional")
        if "conditional" in item
        else False
    )
    if conditional and not conditions:
        raise reader.fail(node, f"{where} : une mesure conditionnelle doit avoir applies_if")
    guide: list[str] = []
    lines: dict[tuple[str, str], int] = {}
    for ref_node in reader.sequence(item.get("guide_2024", _empty()), f"{where} : guide_2024"):
        ref = reader.text(ref_node, f"{where} : référence du guide", _GUIDE_REF)
        guide.append(ref)
        lines[(measure_id, ref)] = ref_node.start_mark.line + 1
    spec = MeasureSpec(
        id=measure_id,
        theme=theme,
        title=reader.text(item["title"], f"{where} : title"),
        explanation=reader.text(item["explanation"], f"{where} : explanation"),
        question=reader.text(item["question"], f"{where} : question"),
        evidence=tuple(evidence),
        renewal_days=(
            reader.integer(item["renewal_days"], f"{where} : renewal_days", 1, 3650)
            if "renewal_days" in item
            else 365
        ),
        guide_2024=tuple(guide),
        applies_if=tuple(conditions),
        conditional=conditional,
        to_verify=(
            reader.boolean(item["to_verify"], f"{where} : to_verify")
            if "to_verify" in item
            else False
        ),
    )
    return spec, lines


def _empty() -> yaml.SequenceNode:
    return yaml.SequenceNode(tag="tag:yaml.org,2002:seq", value=[])


def read_directory(directory: Path) -> tuple[list[FrameworkSpec], dict[str, CatalogueSpec]]:
    """Read every `*.yaml` of a directory and check references between files."""
    frameworks: list[FrameworkSpec] = []
    catalogues: dict[str, CatalogueSpec] = {}
    for path in sorted(directory.glob("*.yaml")):
        spec = read_file(path)
        if isinstance(spec, CatalogueSpec):
            if spec.code in catalogues:
                raise FrameworkFileError(path, 1, f"catalogue « {spec.code} » déjà défini")
            catalogues[spec.code] = spec
        else:
            frameworks.append(spec)
    seen: dict[tuple[str, str], Path] = {}
    for framework in frameworks:
        key = (framework.code, framework.version)
        if key in seen:
            raise FrameworkFileError(
                framework.path, 1, f"{key[0]} {key[1]} déjà défini dans {seen[key].name}"
            )
        seen[key] = framework.path
        check_references(framework, catalogues)
    return frameworks, catalogues


def check_references(framework: FrameworkSpec, catalogues: dict[str, CatalogueSpec]) -> None:
    """Every guide reference must name a fiche of the catalogue the framework maps to."""
    if not framework.maps_to:
        return
    catalogue = catalogues.get(framework.maps_to)
    if catalogue is None:
        raise FrameworkFileError(
            framework.path,
            framework.maps_to_line,
            f"catalogue « {framework.maps_to} » introuvable",
        )
    for measure in framework.measures:
        for ref in measure.guide_2024:
            fiche = ref.split(".")[0]
            if fiche not in catalogue.fiches:
                raise FrameworkFileError(
                    framework.path,
                    framework.guide_lines.get((measure.id, ref), 1),
                    f"mesure {measure.id} : la fiche {fiche} n'existe pas dans {catalogue.code}",
                )
