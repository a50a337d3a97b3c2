"""SAF-T export: the grouping of accounts, an index for reading a period, `exports:read`.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01

* `saft_grouping`: which GroupingCategory/GroupingCode of the business statement
  (næringsspesifikasjon) a range of 4-digit accounts goes to in a SAF-T file. Tenant data:
  rows of tenant `*` are the defaults seeded here (the codes that are account numbers, and
  ranges for the NS 4102 classes), a tenant's own rows win over them; the narrowest range
  holding an account wins.
* `ix_journal_lines_period`: the export reads a tenant's lines of a period in (date,
  position, line_no) order, a keyset page at a time.
* `exports:read` for admin and accountant (no auditor role exists; a tenant grants it to
  others with `bookkeeper policy allow`).

The seed is written out here so that this revision never changes when the code does
(bookkeeper.adapters.saft.groupings serves the same defaults in memory; a test compares).
"""

from __future__ import annotations

from typing import Final

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

#: GroupingCodes of the business statement (næringsspesifikasjon, Skatteetaten's
#: naeringsspesifikasjon.csv) that are 4-digit numbers, by GroupingCategory: an account
#: with the same number maps to it. Bank and insurance (and IFRS) categories are left out.
EXACT_CODES: Final[dict[str, str]] = {
    "balanseverdiForAnleggsmiddel": (
        "1000 1020 1070 1080 1101 1102 1103 1104 1105 1115 1117 1120 1130 1140 "
        "1150 1160 1180 1205 1221 1225 1238 1280 1290 1295 1296 1298 1312 1313 "
        "1320 1331 1332 1340 1350 1360 1370 1380 1390 1395"
    ),
    "balanseverdiForOmloepsmiddel": (
        "1400 1401 1470 1490 1500 1501 1530 1560 1565 1570 1780 1800 1810 1830 "
        "1840 1880 1895 1900 1920 1950"
    ),
    "langsiktigGjeld": "2100 2120 2130 2160 2180 2185 2200 2210 2220 2250 2260 2280 2290",
    "kortsiktigGjeld": (
        "2310 2320 2330 2380 2400 2460 2470 2500 2510 2600 2740 2770 2790 2800 "
        "2900 2910 2920 2949 2950 2970 2980 2981 2990"
    ),
    "egenkapital": (
        "2000 2010 2015 2020 2030 2041 2042 2043 2045 2050 2055 2080 2095 2096 2097 2098"
    ),
    "salgsinntekt": "3000 3001 3002 3003 3004 3005 3006 3007 3008 3100 3200 3300",
    "annenDriftsinntekt": (
        "3400 3500 3600 3650 3695 3700 3710 3850 3870 3880 3885 3886 3890 3895 3900 3910"
    ),
    "varekostnad": "4001 4002 4003 4004 4005 4007 4008 4295 4500 4995",
    "loennskostnad": "5000 5300 5400 5420 5600 5900 5950",
    "annenDriftskostnad": (
        "6000 6001 6002 6004 6050 6051 6052 6053 6054 6100 6110 6120 6130 6140 "
        "6200 6300 6340 6350 6395 6400 6440 6500 6600 6695 6700 6750 6751 6752 "
        "6995 6998 7000 7020 7040 7080 7099 7155 7165 7295 7330 7350 7370 7400 "
        "7420 7440 7490 7500 7501 7502 7503 7565 7600 7650 7651 7700 7701 7830 "
        "7860 7880 7885 7886 7890 7897 7910 7911"
    ),
    "finansinntekt": "8005 8030 8050 8054 8059 8060 8074 8075 8079 8080 8090 8091",
    "finanskostnad": "8100 8105 8115 8120 8130 8150 8154 8159 8160 8174 8175 8179",
    "skattekostnad": "8300 8321 8322 8323 8324",
    "resultatDisponeringForSAF-T": "8800",
}

#: Ranges of NS 4102 accounts and where they go when no code of the same number exists:
#: the class defaults, and narrower ranges for the standard accounts norway.md names
#: (27xx VAT → 2740 VAT settlement, 6420 → 6400, 654x/655x → 6500, 68xx/69xx office and
#: telephone → 6995, 686x meetings and courses → 7700, 71xx travel → 7165, 7770 bank fees
#: → 7700). The narrowest range holding an account wins.
RANGES: Final[tuple[tuple[int, int, str, str], ...]] = (
    (1000, 1299, "balanseverdiForAnleggsmiddel", "1290"),
    (1300, 1399, "balanseverdiForAnleggsmiddel", "1390"),
    (1400, 1499, "balanseverdiForOmloepsmiddel", "1400"),
    (1500, 1549, "balanseverdiForOmloepsmiddel", "1500"),
    (1550, 1799, "balanseverdiForOmloepsmiddel", "1570"),
    (1800, 1899, "balanseverdiForOmloepsmiddel", "1800"),
    (1900, 1999, "balanseverdiForOmloepsmiddel", "1920"),
    (2000, 2099, "egenkapital", "2000"),
    (2100, 2299, "langsiktigGjeld", "2290"),
    (2300, 2999, "kortsiktigGjeld", "2990"),
    (2700, 2769, "kortsiktigGjeld", "2740"),
    (3000, 3399, "salgsinntekt", "3000"),
    (3400, 3999, "annenDriftsinntekt", "3900"),
    (4000, 4999, "varekostnad", "4005"),
    (5000, 5999, "loennskostnad", "5000"),
    (6000, 7999, "annenDriftskostnad", "7700"),
    (6400, 6439, "annenDriftskostnad", "6400"),
    (6500, 6599, "annenDriftskostnad", "6500"),
    (6800, 6999, "annenDriftskostnad", "6995"),
    (6850, 6899, "annenDriftskostnad", "7700"),
    (7100, 7199, "annenDriftskostnad", "7165"),
    (7700, 7799, "annenDriftskostnad", "7700"),
    (8000, 8099, "finansinntekt", "8079"),
    (8100, 8299, "finanskostnad", "8179"),
    (8300, 8799, "skattekostnad", "8300"),
    (8800, 8999, "resultatDisponeringForSAF-T", "8800"),
)

EXPORT_ROLES: Final = ("admin", "accountant")


def upgrade() -> None:
    grouping = op.create_table(
        "saft_grouping",
        sa.Column("tenant_id", sa.Text(), nullable=False),
        sa.Column("first_account", sa.Integer(), nullable=False),
        sa.Column("last_account", sa.Integer(), nullable=False),
        sa.Column("grouping_category", sa.Text(), nullable=False),
        sa.Column("grouping_code", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint(
            "tenant_id", "first_account", "last_account", name="pk_saft_grouping"
        ),
        sa.CheckConstraint("first_account <= last_account", name="ck_saft_grouping_range"),
    )
    rows = [
        {
            "tenant_id": "*",
            "first_account": int(code),
            "last_account": int(code),
            "grouping_category": category,
            "grouping_code": code,
        }
        for category, codes in EXACT_CODES.items()
        for code in codes.split()
    ]
    rows += [
        {
            "tenant_id": "*",
            "first_account": first,
            "last_account": last,
            "grouping_category": category,
            "grouping_code": code,
        }
        for first, last, category, code in RANGES
    ]
    op.bulk_insert(grouping, rows)
    op.create_index(
        "ix_journal_lines_period", "journal_lines", ["tenant_id", "date", "position", "line_no"]
    )
    rules = sa.table(
        "casbin_rule",
        sa.column("ptype", sa.String),
        sa.column("v0", sa.String),
        sa.column("v1", sa.String),
        sa.column("v2", sa.String),
        sa.column("v3", sa.String),
        sa.column("v4", sa.String),
    )
    op.bulk_insert(
        rules,
        [
            {"ptype": "p", "v0": role, "v1": "*", "v2": "exports", "v3": "read", "v4": "allow"}
            for role in EXPORT_ROLES
        ],
    )


def downgrade() -> None:
    op.execute(
        "DELETE FROM casbin_rule WHERE ptype = 'p' AND v1 = '*' AND v2 = 'exports' AND v3 = 'read'"
    )
    op.drop_index("ix_journal_lines_period", table_name="journal_lines")
    op.drop_table("saft_grouping")
