"""Deterministic synthetic «Extraction_Correspondance_MSSante» file of the real size and header.

Real figures (25/08/2026, messaging-facts §3.1): 535,357 data lines, 455,471 PER, 79,886 ORG,
169 addresses on several lines, 89 MB. Names, cities and professions follow skewed
distributions like the real ones (many Martin and Paris, few rare names), so that prefix
queries have realistic match counts. Every person is fictitious; RPPS numbers are in the ANS
test range (997…) with a valid Luhn key.

    python -m bench.directory.generate bench/out/Extraction_Correspondance_MSSante_synth.txt
    python -m bench.directory.generate --next-day OUT   # the same file one day later
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from egide.messaging.directory.columns import MSSANTE_HEADER


def _listed(text: str, sep: str | None = None) -> list[str]:
    """Words of a long literal, one per separator (kept as text to keep this file short)."""
    return [
        item.strip()
        for item in text.replace("\n", " " if sep is None else "").split(sep)
        if item.strip()
    ]


PER_LINES = 455_471
ORG_LINES = 79_886
DUPLICATED = 169
SEED = 20260825

COMMON_NAMES = _listed(
    """
MARTIN BERNARD THOMAS PETIT ROBERT RICHARD DURAND DUBOIS MOREAU LAURENT SIMON MICHEL
LEFEBVRE LEROY ROUX DAVID BERTRAND MOREL FOURNIER GIRARD BONNET DUPONT LAMBERT FONTAINE
ROUSSEAU VINCENT MULLER LEFEVRE FAURE ANDRE MERCIER BLANC GUERIN BOYER GARNIER CHEVALIER
FRANCOIS LEGRAND GAUTHIER GARCIA PERRIN ROBIN CLEMENT MORIN NICOLAS HENRY ROUSSEL
MATHIEU GAUTIER MASSON MARCHAND DUVAL DENIS DUMONT MARIE LEMAIRE NOEL MEYER DUFOUR
MEUNIER BRUN BLANCHARD GIRAUD JOLY RIVIERE LUCAS BRUNET GAILLARD BARBIER ARNAUD MARTINEZ
GERARD ROCHE RENARD SCHMITT ROY LEROUX COLIN VIDAL CARON PICARD ROGER FABRE AUBERT
LEMOINE RENAUD DUMAS LACROIX OLIVIER PHILIPPE BOURGEOIS PIERRE BENOIT REY LECLERC PAYET
ROLLAND LECLERCQ GUILLAUME LECOMTE LOPEZ JEAN DUPUY GUILLOT HUBERT BERGER CARPENTIER
SANCHEZ DUPUIS MOULIN LOUIS DESCHAMPS HUET VASSEUR PEREZ BOUCHER FLEURY ROYER KLEIN
JACQUET ADAM PARIS POIRIER MARTY AUBRY GUYOT CARRE CHARLES RENAULT CHARPENTIER MENARD
MAILLARD BARON BERTIN BAILLY HERVE SCHNEIDER FERNANDEZ LE GALL COLLET LEGER BOUVIER
JULIEN PREVOST MILLET PERROT DANIEL LE ROUX COUSIN GERMAIN BRETON BESSON LANGLOIS REMY
LE GOFF PELLETIER LEVEQUE PERRIER LEBLANC BARRE LEBRUN MARCHAL WEBER MALLET HAMON
BOULANGER JACOB MONNIER MICHAUD RODRIGUEZ GUICHARD GILLET ETIENNE GRONDIN POULAIN
TESSIER CHEVALLIER COLLIN CHAUVIN DA SILVA BOUCHET GAY LEMAITRE BENARD MARECHAL HUMBERT
REYNAUD ANTOINE HOARAU PERRET BARTHELEMY CORDIER PICHON LEJEUNE GILBERT LAMY DELAUNAY
PASQUIER CARLIER LAPORTE DUPRE DUPRAT DUPONCHEL
"""
)
SYLLABLES = _listed(
    """
ba be bi bo bou ca ce chi co cou da de di do dou fa fe fi fo ga ge gi go gue la le li lo
lou ma me mi mo mou na ne ni no nou pa pe pi po pou ra re ri ro rou sa se si so sou ta
te ti to tou va ve vi vo vou mar ber ton lan mon gar vil bru cha dur fer lor mer nat
quen rol sal ter val ville court mont champ bois lac roche
"""
)
GIVEN = _listed(
    """
Marie Jean Pierre Michel André Philippe Nathalie Isabelle Sylvie Catherine Françoise
Christine Monique Valérie Sandrine Stéphanie Nicolas Christophe Laurent Frédéric Julien
Sébastien Thomas David Céline Aurélie Émilie Julie Camille Léa Manon Chloé Hélène Anne
Sophie Élodie Mathieu Antoine Alexandre Guillaume Olivier Éric Patrick Thierry Bruno
Marc Alain Bernard Luc Hugo Louis Lucas Inès Zoé Agnès Béatrice Geneviève Jérôme Rémi
Benoît Noël Maëlle Anaïs Clémence Pauline Margaux Marion Audrey Mélanie Caroline
Virginie
"""
)
CITIES = (
    ("75", "PARIS", 40),
    ("13", "MARSEILLE", 14),
    ("69", "LYON", 12),
    ("31", "TOULOUSE", 9),
    ("06", "NICE", 7),
    ("44", "NANTES", 6),
    ("67", "STRASBOURG", 6),
    ("34", "MONTPELLIER", 6),
    ("33", "BORDEAUX", 6),
    ("59", "LILLE", 6),
    ("35", "RENNES", 5),
    ("51", "REIMS", 3),
    ("42", "SAINT-ETIENNE", 3),
    ("83", "TOULON", 3),
    ("76", "LE HAVRE", 3),
    ("38", "GRENOBLE", 3),
    ("21", "DIJON", 3),
    ("49", "ANGERS", 3),
    ("30", "NIMES", 2),
    ("63", "CLERMONT-FERRAND", 3),
    ("72", "LE MANS", 2),
    ("13", "AIX-EN-PROVENCE", 2),
    ("29", "BREST", 2),
    ("37", "TOURS", 2),
    ("80", "AMIENS", 2),
    ("87", "LIMOGES", 2),
    ("74", "ANNECY", 2),
    ("66", "PERPIGNAN", 2),
    ("57", "METZ", 2),
    ("25", "BESANCON", 2),
    ("45", "ORLEANS", 2),
    ("14", "CAEN", 2),
    ("68", "MULHOUSE", 1),
    ("76", "ROUEN", 2),
    ("54", "NANCY", 2),
    ("64", "PAU", 1),
    ("17", "LA ROCHELLE", 1),
    ("86", "POITIERS", 1),
    ("974", "SAINT-DENIS", 1),
    ("2A", "AJACCIO", 1),
)
# (code, label, weight, specialties as (code, label, weight))
PROFESSIONS = (
    (
        "10",
        "Médecin",
        44,
        (
            ("SM54", "Médecine Générale", 45),
            ("SM42", "Pédiatrie", 4),
            ("SM04", "Cardiologie et maladies vasculaires", 5),
            ("SM33", "Psychiatrie", 6),
            ("SM21", "Gynécologie-obstétrique", 4),
            ("SM43", "Radio-diagnostic", 5),
            ("SM15", "Dermatologie et vénéréologie", 3),
            ("SM38", "Ophtalmologie", 4),
            ("SM40", "Oto-rhino-laryngologie et chirurgie cervico-faciale", 2),
            ("SM02", "Anesthésie-réanimation", 6),
            ("SM47", "Rhumatologie", 2),
            ("SM32", "Neurologie", 2),
            ("SM44", "Pneumologie", 2),
            ("SM24", "Gastro-entérologie et hépatologie", 2),
            ("SM53", "Médecine interne", 2),
            ("SM05", "Biologie médicale", 2),
        ),
    ),
    ("60", "Infirmier", 21, ()),
    ("21", "Pharmacien", 9, ()),
    ("70", "Masseur-Kinésithérapeute", 10, ()),
    ("40", "Chirurgien-Dentiste", 7, (("SCD01", "Orthopédie dento-faciale", 5), ("", "", 95))),
    ("50", "Sage-Femme", 3, ()),
    ("80", "Pédicure-Podologue", 2, ()),
    ("91", "Orthophoniste", 2, ()),
    ("93", "Psychologue", 1, ()),
    ("26", "Audioprothésiste", 1, ()),
)
ORG_KINDS = (
    (
        "Centre Hospitalier",
        (
            "Service de cardiologie",
            "Urgences",
            "Secrétariat médical",
            "Service de pédiatrie",
            "Radiologie",
            "Maternité",
            "Oncologie",
            "Bureau des entrées",
        ),
    ),
    ("Clinique", ("Secrétariat", "Bloc opératoire", "Consultations", "Imagerie")),
    ("Laboratoire de biologie médicale", ("Résultats", "Secrétariat")),
    ("Maison de santé pluriprofessionnelle", ("Secrétariat", "Coordination")),
    ("Centre de santé", ("Accueil", "Secrétariat")),
    ("Cabinet de radiologie", ("Comptes rendus", "Secrétariat")),
    ("EHPAD", ("Infirmerie", "Direction des soins")),
)
ORG_PLACES = _listed(
    """
du Parc,des Lilas,Saint-Joseph,Sainte-Anne,de la Mer,du Lac,des Alpes,Pasteur,
Jean Jaurès,Victor Hugo,Les Tilleuls,du Centre,de l'Europe
""",
    sep=",",
)
STREETS = _listed(
    """
RUE DE LA REPUBLIQUE,AVENUE JEAN JAURES,RUE VICTOR HUGO,BOULEVARD PASTEUR,
PLACE DE LA MAIRIE,RUE DU GENERAL DE GAULLE,CHEMIN DES VIGNES,RUE DES ECOLES,
AVENUE DE LA GARE,RUE NATIONALE
""",
    sep=",",
)


def luhn_key(digits: str) -> str:
    total = 0
    for index, char in enumerate(reversed(digits + "0")):
        value = int(char) * (2 if index % 2 else 1)
        total += value - 9 if value > 9 else value
    return str((10 - total % 10) % 10)


_Row = TypeVar("_Row", bound=tuple[Any, ...])


def _weighted(rng: random.Random, items: Sequence[_Row], weight_at: int) -> list[_Row]:
    return [item for item in items for _ in range(int(item[weight_at]))]


class Generator:
    """Deterministic line maker; `lines()` yields the data lines in a shuffled but fixed order."""

    def __init__(self, seed: int = SEED) -> None:
        self.rng = random.Random(seed)
        rng = self.rng
        rare = {self._rare_name() for _ in range(60_000)}
        self.rare_names = sorted(rare)
        self.cities = _weighted(rng, CITIES, 2)
        self.professions = _weighted(rng, PROFESSIONS, 2)
        self.used: set[str] = set()
        self.rpps_counter = 0

    def _rare_name(self) -> str:
        rng = self.rng
        return "".join(rng.choice(SYLLABLES) for _ in range(rng.choice((2, 2, 3, 3, 4)))).upper()

    def family(self) -> str:
        rng = self.rng
        if rng.random() < 0.35:
            # Zipf-like: the first common names are much more frequent.
            return COMMON_NAMES[min(int(rng.paretovariate(0.9)) - 1, len(COMMON_NAMES) - 1)]
        return rng.choice(self.rare_names)

    def place(self) -> tuple[str, str, str]:
        department, city, _ = self.rng.choice(self.cities)
        digits = str(department).replace("A", "0").replace("B", "0")[:3]
        postcode = f"{digits:0<3}{self.rng.randint(0, 20):02d}"[:5]
        return str(department), str(city), postcode

    def unique(self, address: str) -> str:
        local, _, domain = address.partition("@")
        candidate, number = address, 1
        while candidate in self.used:
            number += 1
            candidate = f"{local}{number}@{domain}"
        self.used.add(candidate)
        return candidate

    def rpps(self) -> str:
        self.rpps_counter += 1
        body = f"997{self.rpps_counter:07d}"
        return body + luhn_key(body)

    def per_line(self) -> list[str]:
        rng = self.rng
        family, given = self.family(), rng.choice(GIVEN)
        code, label, _, specialties = rng.choice(self.professions)
        specialty_code, specialty = "", ""
        if specialties:
            specialty_code, specialty, _ = rng.choice(_weighted(rng, specialties, 2))
        department, city, postcode = self.place()
        domain = rng.choice(
            (
                "medecin.mssante.fr",
                "pharmacien.mssante.fr",
                "infirmier.mssante.fr",
                "mssante.apicrypt.org",
                "ch-x.mssante.fr",
            )
        )
        local = f"{given}.{family}".lower().replace(" ", "-")
        address = self.unique(local.encode("ascii", "ignore").decode() + "@" + domain)
        rpps = self.rpps()
        organisation = "" if rng.random() < 0.9 else f"Cabinet médical {rng.choice(ORG_PLACES)}"
        street = rng.choice(STREETS) if rng.random() < 0.6 else ""
        number = str(rng.randint(1, 150)) if street else ""
        return [
            "PER",
            address,
            "8",
            rpps,
            "8" + rpps,
            "1" if organisation else "",
            "",
            "",
            rng.choice(("DR", "M", "MME", "")),
            family,
            given,
            "C",
            "Civil",
            str(code),
            str(label),
            str(specialty_code),
            str(specialty),
            "O",
            organisation,
            "",
            "",
            "",
            number,
            "",
            "",
            street,
            "",
            f"{postcode} {city}",
            postcode,
            department,
            "FRANCE",
        ]

    def org_line(self) -> list[str]:
        rng = self.rng
        kind, services = rng.choice(ORG_KINDS)
        department, city, postcode = self.place()
        name = (
            f"{kind} {rng.choice(ORG_PLACES)}"
            if rng.random() < 0.6
            else f"{kind} de {city.title()}"
        )
        service = rng.choice(services)
        slug = "".join(ch for ch in service.lower() if ch.isascii() and ch.isalnum())[:14]
        domain = "".join(ch for ch in name.lower() if ch.isascii() and ch.isalnum())[:18]
        address = self.unique(f"{slug}@{domain}-{postcode}.mssante.fr")
        finess = f"{department[:2]:0<2}{rng.randint(0, 9_999_999):07d}"
        return [
            "ORG",
            address,
            "",
            "",
            "",
            "1",
            "1" + finess,
            service,
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "O",
            name,
            "",
            "",
            "",
            str(rng.randint(1, 150)),
            "",
            "",
            rng.choice(STREETS),
            "",
            f"{postcode} {city}",
            postcode,
            department,
            "FRANCE",
        ]

    def lines(
        self, per: int = PER_LINES, org: int = ORG_LINES, duplicated: int = DUPLICATED
    ) -> list[str]:
        rows = [self.per_line() for _ in range(per - duplicated)]
        rows += [self.org_line() for _ in range(org)]
        # The real file lists 169 addresses twice, usually for a second activity.
        for original in self.rng.sample(rows[: per - duplicated], duplicated):
            again = list(original)
            again[18] = again[18] or "Centre de santé du Lac"
            rows.append(again)
        self.rng.shuffle(rows)
        return ["|".join(row) for row in rows]


def next_day(lines: list[str], seed: int = SEED + 1) -> list[str]:
    """The same extraction a day later: about 0.1 % removed, changed and added lines."""
    rng = random.Random(seed)
    generator = Generator(seed)
    generator.used = {line.split("|", 2)[1] for line in lines}
    generator.rpps_counter = 5_000_000
    kept = [line for line in lines if rng.random() > 0.001]
    changed = []
    for line in kept:
        if rng.random() < 0.001:
            fields = line.split("|")
            fields[25] = rng.choice(STREETS)
            fields[22] = str(int(fields[22] or 0) + 1)
            line = "|".join(fields)
        changed.append(line)
    changed += ["|".join(generator.per_line()) for _ in range(len(lines) - len(kept))]
    return changed


def write(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as out:
        out.write("|".join(MSSANTE_HEADER) + "\n")
        for line in lines:
            out.write(line + "\n")


def iter_queries(lines: list[str], count: int = 1000, seed: int = SEED) -> Iterator[str]:
    """Autocomplete-style queries: «dup», «dupont ma», «kiné lyon», an RPPS, a city + profession."""
    rng = random.Random(seed)
    people = [line.split("|") for line in rng.sample(lines, 5000)]
    people = [row for row in people if row[0] == "PER"]
    kinds = ("prefix", "name_given", "profession_city", "rpps", "city_profession", "name", "org")
    typed = (
        "kiné",
        "infirmière",
        "IDE",
        "généraliste",
        "dentiste",
        "sage-femme",
        "psy",
        "ORL",
        "pédiatre",
        "pharmacien",
        "cardio",
        "radiologue",
        "médecin",
        "ophtalmo",
        "podologue",
    )
    orgs = ("clinique", "centre hosp", "laboratoire", "maison de santé", "ehpad", "radiologie")
    for number in range(count):
        kind = kinds[number % len(kinds)]
        row = rng.choice(people)
        city = row[27].split(" ", 1)[1].title()
        if kind == "prefix":
            yield row[9].lower()[: rng.choice((3, 3, 4))]
        elif kind == "name_given":
            yield f"{row[9].lower()} {row[10].lower()[:2]}"
        elif kind == "profession_city":
            yield f"{rng.choice(typed)} {city.lower()[: rng.choice((3, 4, 20))]}"
        elif kind == "rpps":
            yield row[3]
        elif kind == "city_profession":
            yield f"{city} {rng.choice(typed)[:5]}"
        elif kind == "name":
            yield row[9].title()
        else:
            yield f"{rng.choice(orgs)} {city.lower()[:3]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("output", type=Path)
    parser.add_argument("--next-day", type=Path, help="also write the next day's extraction here")
    args = parser.parse_args()
    lines = Generator().lines()
    write(args.output, lines)
    if args.next_day:
        write(args.next_day, next_day(lines))


if __name__ == "__main__":
    main()
