"""Rules as data, managed (issue 12, ADR 0029): tax rates by validity, currencies and
countries, closed periods and locked VAT terms, review rules and the approval threshold.

The use cases of `/rules/*` and `bookkeeper rules …`. Reading needs `rules:read`; changing
a tax rate, the review rules or reopening a period `rules:manage` (admin); closing a
period or locking a VAT term `periods:close` (accountant, admin).

A tax-rate change is a new row from its date; the row valid until then ends the day
before (domain/rules.TaxTable.change), so documents dated before keep their rate and those
from the date on take the new one — no deploy.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import msgspec

from bookkeeper.application.authorization import PERIODS_CLOSE, RULES_MANAGE, RULES_READ
from bookkeeper.application.event_log import period_change_id, stamp
from bookkeeper.application.ports import (
    Authorizer,
    Clock,
    Principal,
    UnitOfWork,
    UnitOfWorkFactory,
)
from bookkeeper.domain.events import PeriodChangedData
from bookkeeper.domain.ledger import YEARLY, vat_term, vat_year
from bookkeeper.domain.review import ReviewRules, review_rules_problem
from bookkeeper.domain.rules import (
    NORWAY,
    PERIOD,
    VAT_TERM,
    Country,
    Currency,
    FiscalPeriod,
    InvalidRule,
    TaxRate,
    TaxTable,
    check_period,
    period_name,
)


class RulesService:
    """Rules as data: the admin use cases."""

    def __init__(
        self, uow_factory: UnitOfWorkFactory, clock: Clock, authorizer: Authorizer
    ) -> None:
        self._uow = uow_factory
        self._clock = clock
        self._authorizer = authorizer

    # --- tax rates, currencies, countries ---------------------------------------------

    async def tax_rates(
        self,
        principal: Principal,
        country: str | None = None,
        on: dt.date | None = None,
        *,
        defaults: bool = False,
    ) -> list[TaxRate]:
        """Every tax rate in force for the caller's tenant (of `country`; valid `on` a
        day): its own rows of a code, the shipped defaults of the others (ADR 0040);
        `defaults`: the shipped defaults alone."""
        self._authorizer.check(principal, RULES_READ)
        async with self._uow() as uow:
            rows = await uow.rules.tax_rates(
                country.upper() if country else None,
                tenant_id=None if defaults else principal.tenant_id,
            )
        table = TaxTable(rows)
        if on is not None:
            return [r for r in table.rates if r.valid_on(on)]
        return list(table.rates)

    async def change_tax_rate(
        self,
        principal: Principal,
        *,
        saft_code: str,
        rate: Decimal | None,
        valid_from: dt.date,
        country: str = NORWAY,
        valid_to: dt.date | None = None,
        tax_type: str | None = None,
        direction: str | None = None,
        account: str | None = None,
    ) -> TaxRate:
        """A rate from `valid_from` on, for the caller's tenant only (ADR 0040): the
        code's earlier row ends the day before. Tax type, direction and account default to
        the code's latest row (a new code needs its tax type). The tenant's first change
        of a code copies the code's default history into the tenant's rows; the other
        tenants keep the defaults."""
        self._authorizer.check(principal, RULES_MANAGE)
        return await self._change_rate(
            principal.tenant_id,
            saft_code=saft_code,
            rate=rate,
            valid_from=valid_from,
            country=country,
            valid_to=valid_to,
            tax_type=tax_type,
            direction=direction,
            account=account,
        )

    async def change_default_tax_rate(
        self,
        *,
        saft_code: str,
        rate: Decimal | None,
        valid_from: dt.date,
        country: str = NORWAY,
        valid_to: dt.date | None = None,
        tax_type: str | None = None,
        direction: str | None = None,
        account: str | None = None,
    ) -> TaxRate:
        """The same change to the shipped defaults, which every tenant without its own
        rows of the code follows. The operator's use case (`bookkeeper rules set-rate
        --defaults`, with the shell's trust, as migrations): no tenant's role reaches it,
        and no HTTP route calls it (the project has no platform-level role; ADR 0040)."""
        return await self._change_rate(
            None,
            saft_code=saft_code,
            rate=rate,
            valid_from=valid_from,
            country=country,
            valid_to=valid_to,
            tax_type=tax_type,
            direction=direction,
            account=account,
        )

    async def _change_rate(
        self,
        tenant_id: str | None,
        *,
        saft_code: str,
        rate: Decimal | None,
        valid_from: dt.date,
        country: str,
        valid_to: dt.date | None,
        tax_type: str | None,
        direction: str | None,
        account: str | None,
    ) -> TaxRate:
        country = country.upper()
        if not (len(country) == 2 and country.isalpha()):
            raise InvalidRule(f"a country is an ISO 3166 two-letter code, not {country!r}")
        if not saft_code or len(saft_code) > 8 or not saft_code.isalnum():
            raise InvalidRule("saftCode is a short code such as 3 or 33")
        if rate is not None and (not rate.is_finite() or rate != rate.quantize(Decimal("0.01"))):
            raise InvalidRule("a rate has at most two decimals")
        if direction not in (None, "input", "output"):
            raise InvalidRule("direction is input or output")
        async with self._uow() as uow:
            table = TaxTable(await uow.rules.tax_rates(country, tenant_id=tenant_id))
            history = [r for r in table.rates if r.saft_code == saft_code]
            previous = max(history, key=lambda r: r.valid_from, default=None)
            if previous is None and tax_type is None:
                raise InvalidRule(f"code {saft_code} is new in {country}: give its taxType")
            new = TaxRate(
                country=country,
                tax_type=tax_type or (previous.tax_type if previous else ""),
                direction=direction or (previous.direction if previous else None),
                saft_code=saft_code,
                rate=rate,
                account=account or (previous.account if previous else None),
                valid_from=valid_from,
                valid_to=valid_to,
            )
            ended, added = table.change(new)
            # The code's whole history as it becomes, under the tenant (a tenant's first
            # change of a code copies the defaults' rows of it; writing them again is a
            # no-op upsert).
            changed = {r.valid_from: r for r in ended}
            for row in history:
                await uow.rules.put_tax_rate(changed.get(row.valid_from, row), tenant_id=tenant_id)
            await uow.rules.put_tax_rate(added, tenant_id=tenant_id)
            await uow.commit()
        return added

    async def currencies(self, principal: Principal) -> list[Currency]:
        self._authorizer.check(principal, RULES_READ)
        async with self._uow() as uow:
            return await uow.rules.currencies()

    async def countries(self, principal: Principal) -> list[Country]:
        self._authorizer.check(principal, RULES_READ)
        async with self._uow() as uow:
            return await uow.rules.countries()

    # --- periods --------------------------------------------------------------------------

    async def periods(self, principal: Principal, kind: str | None = None) -> list[FiscalPeriod]:
        """The tenant's closed periods and locked VAT terms."""
        self._authorizer.check(principal, RULES_READ)
        async with self._uow() as uow:
            return await uow.rules.periods(principal.tenant_id, kind)

    async def close_period(
        self, principal: Principal, start: dt.date, end: dt.date
    ) -> tuple[FiscalPeriod, bool]:
        """Close [start, end]: nothing dated in it can be posted any more. The period and
        whether it was closed now (False: it lies inside a closed period already, which is
        the one returned). Closed periods it covers whole are absorbed into it; one it only
        overlaps is refused."""
        self._authorizer.check(principal, PERIODS_CLOSE)
        check_period(start, end)
        return await self._add(principal, PERIOD, start, end, period_name(start, end))

    async def lock_vat_term(
        self, principal: Principal, year: int, term: int
    ) -> tuple[FiscalPeriod, bool]:
        """Lock a bi-monthly VAT term once its return is reported: no entry with VAT lines
        is dated into it any more — a manual one is refused (409 `vat-term-locked`), an
        automatic one (executor, reversal, correction, bus) dated on the first day after
        it (ADR 0040 addendum on every kind of posting)."""
        self._authorizer.check(principal, PERIODS_CLOSE)
        t = vat_term(year, term)
        async with self._uow() as uow:
            length = (await uow.settings.review_rules(principal.tenant_id)).vat_term
        if length == YEARLY:
            # ADR 0064: a company on the yearly term reports the year in one return.
            t = vat_year(year)
            return await self._add(principal, VAT_TERM, t.start, t.end, f"{year}")
        return await self._add(principal, VAT_TERM, t.start, t.end, f"{year}-{term}")

    async def reopen(self, principal: Principal, kind: str, start: dt.date) -> bool:
        """Reopen a closed period or unlock a term (admin); False when none starts there."""
        self._authorizer.check(principal, RULES_MANAGE)
        if kind not in (PERIOD, VAT_TERM):
            raise InvalidRule(f"kind is {PERIOD} or {VAT_TERM}")
        async with self._uow() as uow:
            closed = await uow.rules.periods(principal.tenant_id, kind)
            removed = await uow.rules.remove_period(principal.tenant_id, kind, start)
            for period in (p for p in closed if removed and p.start == start):
                await self._record(uow, principal, "PeriodReopened", period)
            await uow.commit()
        return removed

    async def _add(
        self, principal: Principal, kind: str, start: dt.date, end: dt.date, name: str
    ) -> tuple[FiscalPeriod, bool]:
        period = FiscalPeriod(
            tenant_id=principal.tenant_id,
            kind=kind,
            name=name,
            start=start,
            end=end,
            closed_by=principal.actor,
            closed_at=self._clock.now(),
        )
        async with self._uow() as uow:
            # Under the exclusive period lock: a concurrent close of an overlapping
            # period waits for this one to commit, then sees it (ADR 0040 §3).
            periods = await uow.rules.periods(principal.tenant_id, kind, lock_for="closing")
            overlapping = [p for p in periods if p.start <= end and start <= p.end]
            for existing in overlapping:
                # Inside one closed period (the same one, or a month of a closed year):
                # nothing more to close.
                if existing.start <= start and end <= existing.end:
                    return existing, False
            for existing in overlapping:
                # Only a close that covers a closed period whole may absorb it (a year over
                # its closed months); one that cuts through it would leave the two at odds.
                if existing.start < start or end < existing.end:
                    raise InvalidRule(
                        f"{name} overlaps {existing.name} ({existing.start} to {existing.end})"
                    )
            # The wider period replaces the closed ones inside it (ADR 0029 addendum): the
            # table holds one row per first day, and reopening the wider period reopens
            # all of it. Nothing was open in between, so no PeriodReopened is recorded.
            for existing in overlapping:
                await uow.rules.remove_period(principal.tenant_id, kind, existing.start)
            await uow.rules.add_period(period)
            await self._record(uow, principal, "PeriodClosed", period)
            await uow.commit()
        return period, True

    async def _record(
        self, uow: UnitOfWork, principal: Principal, change: str, period: FiscalPeriod
    ) -> None:
        """The close or reopening in the tenant's log, in the same transaction: the table
        of closed periods holds only what is closed now, and a reported VAT term unlocked,
        posted into and locked again left no trace of ever having been open."""
        at = self._clock.now()
        event_id = period_change_id(
            period.tenant_id, change, period.kind, period.start, period.end, at
        )
        data = PeriodChangedData(
            kind=period.kind, name=period.name, start=period.start, end=period.end
        )
        event = stamp(
            change,
            data,
            event_id=event_id,
            actor=principal.actor,
            at=at,
            correlation_id=event_id,
            metadata={"source": "rules"},
        )
        await uow.events.append(period.tenant_id, event_id, 0, [event])

    # --- review rules and the approval threshold ------------------------------------------

    async def review_rules(self, principal: Principal) -> ReviewRules:
        self._authorizer.check(principal, RULES_READ)
        async with self._uow() as uow:
            return await uow.settings.review_rules(principal.tenant_id)

    async def set_review_rules(
        self, principal: Principal, changes: dict[str, object]
    ) -> ReviewRules:
        """Change some of the tenant's review rules (camelCase names, as GET shows them;
        e.g. twoApproversAbove, the approval threshold); the others keep their value."""
        self._authorizer.check(principal, RULES_MANAGE)
        async with self._uow() as uow:
            current = await uow.settings.review_rules(principal.tenant_id)
            merged = msgspec.to_builtins(current) | changes
            try:
                rules = msgspec.convert(merged, ReviewRules, strict=False)
            except msgspec.ValidationError as error:
                raise InvalidRule(f"review rules: {error}") from None
            problem = review_rules_problem(rules)
            if problem is not None:
                raise InvalidRule(problem)
            await uow.settings.save_review_rules(principal.tenant_id, rules, self._clock.now())
            await uow.commit()
        return rules
