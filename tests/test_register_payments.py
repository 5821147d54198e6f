"""Payment schedules as rules with sources, and how the register turns payments into `paid`.

- every instalment cites the deliberation, and its quote is on the line it cites (L327, L469,
  L934), like tests/test_sources.py does for the parameters;
- Pas-de-Calais Actif's initial convention: 145 437,50 € and 108 232,56 € are recorded as the
  text gives them, and they are 43 % and 32 % of its cost 338 226,74 € (L805) to the cent;
- the avenant of the 1,2 ETP: 60 % / 40 % of its amount, exact to the cent, adding up;
- the next instalment due, interim and final; `paid_eur` replaced from recorded payments;
- a French CSV of mandates read (`;`, decimal comma), its mistakes named by line and column.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import polars as pl
import pytest

from engine.load.extracts import read_extracts
from engine.load.rules import load_payments, load_rules
from engine.model.errors import ExtractError, RulesError
from engine.model.money import to_cents
from engine.register.payments import (
    apply_paid,
    instalment_amounts,
    next_instalment,
    parse_amount,
    read_mandates,
    schedule_for,
)

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"
SEEDS = [ROOT.parent / "shared" / "seed" / "deliberation-cp-2024-587.txt",
         Path("/work/shared/seed/deliberation-cp-2024-587.txt")]
SCHEDULES = load_payments()


def _fold(text: str) -> str:
    text = text.replace("\u00a0", " ").replace("’", "'")
    text = re.sub(r"<[^<>]+>", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def _instalments() -> list[tuple[str, dict]]:
    return [(f"{d}.{s.id}.{i.id}", dict(i.source)) for d, ss in SCHEDULES.items() for s in ss for i in s.instalments]


def test_every_dispositif_with_a_schedule_in_the_text_has_one() -> None:
    assert set(SCHEDULES) == {"accueil", "equilibre", "independants"}
    assert [s.id for s in SCHEDULES["independants"]] == ["convention_initiale", "avenant_1_2_etp"]
    for _, source in _instalments():
        assert source["document"] == "deliberation-cp-2024-587"
        assert source["quote"].strip() and source["ref"].startswith("L")


def test_every_instalment_quote_is_on_its_line() -> None:
    seed = next((p for p in SEEDS if p.exists()), None)
    if seed is None:
        pytest.skip("texte de la délibération absent")
    lines = seed.read_text(encoding="utf-8").splitlines()
    missing = []
    for path, source in _instalments():
        cited = [int(n) for n in re.findall(r"L(\d+)", source["ref"])]
        where = _fold(" ".join(lines[n - 1] for n in cited))
        for part in source["quote"].split("[...]"):
            if _fold(part) not in where:
                missing.append(f"{path}: « {part.strip()} » absent de {source['ref']}")
    assert not missing, "\n".join(missing)
    assert {s["ref"] for _, s in _instalments()} == {"L327", "L469", "L934"}


def test_pas_de_calais_actif_initial_convention_instalments() -> None:
    initial = SCHEDULES["independants"][0]
    assert initial.total_eur == Decimal("338226.74")
    amounts = instalment_amounts(initial, Decimal(0))
    assert amounts == [Decimal("145437.50"), Decimal("108232.56"), Decimal("84556.68")]
    assert sum(amounts, Decimal(0)) == initial.total_eur  # type: ignore[arg-type]
    # the amounts the text gives are 43 % and 32 % of the cost, rounded half-up to the cent
    assert to_cents(Fraction(initial.total_eur) * Fraction(43, 100)) == Decimal("145437.50")
    assert to_cents(Fraction(initial.total_eur) * Fraction(32, 100)) == Decimal("108232.56")


@pytest.mark.parametrize(("amount", "first", "second"), [
    ("79850.00", "47910.00", "31940.00"),
    ("79850.01", "47910.01", "31940.00"),  # 47 910,006 → 47 910,01; the solde is the rest
    ("0.05", "0.03", "0.02"),
])
def test_avenant_split_60_40_exact_to_the_cent(amount: str, first: str, second: str) -> None:
    avenant = SCHEDULES["independants"][1]
    assert [i.share for i in avenant.instalments] == [Decimal("0.60"), Decimal("0.40")]
    amounts = instalment_amounts(avenant, Decimal(amount))
    assert amounts == [Decimal(first), Decimal(second)]
    assert sum(amounts, Decimal(0)) == Decimal(amount)  # type: ignore[arg-type]


def test_schedules_pick_the_convention() -> None:
    conventions = read_extracts(SAMPLE).tables["conventions"]
    row = conventions.filter(pl.col("convention_id") == "IND-PDCA-AV2025").row(0, named=True)
    assert schedule_for(SCHEDULES, "independants", row).id == "avenant_1_2_etp"  # type: ignore[union-attr]
    assert schedule_for(SCHEDULES, "independants", {**row, "source": "L805"}).id == "convention_initiale"  # type: ignore[union-attr]
    assert schedule_for(SCHEDULES, "independants", {**row, "source": "L1"}) is None
    assert schedule_for(SCHEDULES, "equilibre", {}).id == "convention"  # type: ignore[union-attr]
    assert schedule_for(SCHEDULES, "participants", {}) is None


def test_next_instalment_interim_and_final() -> None:
    avenant = SCHEDULES["independants"][1]
    amount = Decimal("79850.00")
    nothing = next_instalment(avenant, amount=amount, earned=Decimal("70000.00"), paid=Decimal(0), final=False,
                              payments_count=0)
    assert (nothing["instalment"], nothing["amount_eur"]) == ("signature_avenant", "47910.00")
    part = next_instalment(avenant, amount=amount, earned=Decimal("70000.00"), paid=Decimal("40000.00"),
                           final=False, payments_count=1)
    assert (part["instalment"], part["amount_eur"]) == ("signature_avenant", "7910.00")
    covered = next_instalment(avenant, amount=amount, earned=Decimal("70000.00"), paid=Decimal("47910.00"),
                              final=False, payments_count=1)
    assert (covered["instalment"], covered["amount_eur"], covered["projection"]) == ("solde", "22090.00", True)
    assert covered["due_by"] == "2025-12-31"
    pay = next_instalment(avenant, amount=amount, earned=Decimal("70000.00"), paid=Decimal("47910.00"),
                          final=True, payments_count=1)
    assert (pay["action"], pay["amount_eur"], pay["solde_eur"], pay["projection"]) == ("verser", "22090.00",
                                                                                        "22090.00", False)
    recover = next_instalment(avenant, amount=amount, earned=Decimal("40000.00"), paid=Decimal("47910.00"),
                              final=True, payments_count=1)
    assert (recover["action"], recover["amount_eur"], recover["solde_eur"]) == ("reverser", "7910.00", "-7910.00")
    equilibre = SCHEDULES["equilibre"][0]
    advance = next_instalment(equilibre, amount=Decimal("53700.00"), earned=Decimal(0), paid=Decimal(0),
                              final=False, payments_count=0)
    assert advance["instalment"] == "avance" and advance["amount_eur"] is None and "convention" in advance["note"]
    accueil = SCHEDULES["accueil"][0]
    second = next_instalment(accueil, amount=Decimal(0), earned=Decimal(0), paid=Decimal(0), final=False,
                             payments_count=1)
    assert second["instalment"] == "deuxieme_versement"
    none = next_instalment(None, amount=Decimal(100), earned=Decimal(100), paid=Decimal(100), final=True,
                           payments_count=0)
    assert none["action"] == "aucun"


def test_apply_paid_replaces_only_the_conventions_given() -> None:
    extracts = read_extracts(SAMPLE)
    before = extracts.tables["conventions"]
    after = apply_paid(extracts, {"PA-CCAS-LIEVIN": Decimal("1234.56"), "UNKNOWN": Decimal(1)}).tables["conventions"]
    assert after.columns == before.columns and after.schema == before.schema
    assert after["convention_id"].to_list() == before["convention_id"].to_list()
    changed = after.filter(pl.col("convention_id") == "PA-CCAS-LIEVIN")["paid_eur"].item()
    assert Decimal(changed) == Decimal("1234.56")
    rest = pl.col("convention_id") != "PA-CCAS-LIEVIN"
    assert after.filter(rest).equals(before.filter(rest))
    assert apply_paid(extracts, {}) is extracts


def test_read_mandates_french_csv(tmp_path: Path) -> None:
    file = tmp_path / "mandats.csv"
    file.write_text("Convention;Date;Montant;Référence\nEQ-PBI-PLE;02/01/2025;40 950,00 €;M1\n"
                    "EQ-PBI-PLE;2025-07-15;1\u00a0000,5;M2\n", encoding="utf-8")
    rows = read_mandates(file)
    assert [(r["convention_id"], r["paid_on"], r["amount"], r["reference"]) for r in rows] == [
        ("EQ-PBI-PLE", date(2025, 1, 2), Decimal("40950.00"), "M1"),
        ("EQ-PBI-PLE", date(2025, 7, 15), Decimal("1000.50"), "M2")]
    bad = tmp_path / "bad.csv"
    bad.write_text("convention;date;montant;reference\nEQ-PBI-PLE;31/02/2025;abc;M1\n;01/01/2025;1;\n",
                   encoding="utf-8")
    with pytest.raises(ExtractError) as error:
        read_mandates(bad)
    text = str(error.value)
    assert "ligne 2, colonne « date »" in text and "« 31/02/2025 »" in text
    assert "ligne 2, colonne « montant »" in text and "ligne 3, colonne « convention »" in text
    assert "ligne 3, colonne « reference » : référence manquante" in text
    missing = tmp_path / "missing.csv"
    missing.write_text("convention;date;reference\nX;01/01/2025;M\n", encoding="utf-8")
    with pytest.raises(ExtractError, match="colonne « montant » manquante"):
        read_mandates(missing)
    assert parse_amount("145 437,50 €") == Decimal("145437.50") and parse_amount("1,234") is None


def test_a_bad_schedule_is_refused_with_file_line_and_key(tmp_path: Path) -> None:
    import shutil

    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules", rules)
    file = rules / "independants" / "payments.yaml"
    file.write_text(file.read_text(encoding="utf-8").replace('share: "0.40"', 'share: "0.50"')
                    .replace("condition: signature\n        share", "condition: signatur\n        share"),
                    encoding="utf-8")
    load_rules(rules)  # the rest of the tree still loads
    with pytest.raises(RulesError) as error:
        load_payments(rules)
    text = str(error.value)
    assert "independants/payments.yaml" in text
    assert "les parts des versements doivent faire 1, elles font 1.10" in text
    assert "« signatur » inconnu" in text and "vouliez-vous dire « signature »" in text
