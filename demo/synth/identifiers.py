"""National identifiers and professional stamp numbers, with their real check digits.

* CNP (Romania): ``S YY MM DD JJ NNN C``; S is the sex and century digit (1/2 for 1900-1999,
  5/6 for 2000-2099, odd = male), JJ the county code, C the check digit (``stdnum.ro.cnp``).
  County code 70 ("any county", issued since 2024) is used only for people born in 2024 or later.
* PESEL (Poland): ``YY MM DD ZZZ X C``; the month carries the century (+20 for 2000-2099),
  X is odd for men and even for women, C the check digit (``stdnum.pl.pesel``).
* Doctors: the Romanian stamp ("parafă") is a letter and five digits; the Polish licence number
  (numer PWZ) is seven digits whose first digit is the check digit of the other six
  (sum of digit x position, modulo 11, never 0).
"""

from __future__ import annotations

import datetime as dt
import random

from stdnum.pl import pesel as _pesel
from stdnum.ro import cnp as _cnp

_ANY_COUNTY_SINCE = dt.date(2024, 1, 1)


def cnp(birth: dt.date, gender: str, county: str, serial: int) -> str:
    """The CNP of a person born on ``birth``; ``serial`` (1-999) tells people of a day apart."""
    first = {(False, "M"): "1", (False, "F"): "2", (True, "M"): "5", (True, "F"): "6"}[
        birth.year >= 2000, gender
    ]
    if birth >= _ANY_COUNTY_SINCE and serial % 5 == 0:
        county = "70"
    body = f"{first}{birth:%y%m%d}{county}{serial:03d}"
    return body + _cnp.calc_check_digit(body)


def pesel(birth: dt.date, gender: str, serial: int) -> str:
    """The PESEL of a person born on ``birth``; ``serial`` (0-4999) tells people of a day apart."""
    month = birth.month + (20 if birth.year >= 2000 else 0)
    sex_digit = (serial % 5) * 2 + (1 if gender == "M" else 0)
    body = f"{birth:%y}{month:02d}{birth:%d}{serial // 5:03d}{sex_digit}"
    return body + _pesel.calc_check_digit(body)


def national_id(
    rng: random.Random, locale: str, birth: dt.date, gender: str, county: str, taken: set[str]
) -> str:
    """A national ID (CNP or PESEL by ``locale``) not yet in ``taken``; adds it to ``taken``."""
    while True:
        if locale == "ro":
            number = cnp(birth, gender, county, rng.randint(1, 999))
        else:
            number = pesel(birth, gender, rng.randint(0, 4999))
        if number not in taken:
            taken.add(number)
            return number


def pwz(rng: random.Random) -> str:
    """A Polish doctor's licence number (numer prawa wykonywania zawodu) with its check digit."""
    while True:
        digits = [rng.randint(0, 9) for _ in range(6)]
        check = sum(weight * d for weight, d in enumerate(digits, start=1)) % 11
        if 0 < check < 10:
            return str(check) + "".join(map(str, digits))


def parafa(rng: random.Random) -> str:
    """A Romanian doctor's stamp code: a letter and five digits."""
    return rng.choice("ABCDEFGHKLMNPRST") + f"{rng.randint(10000, 99999)}"


def stamp(rng: random.Random, locale: str) -> str:
    """The stamp number of a doctor practising under ``locale``'s rules."""
    return parafa(rng) if locale == "ro" else pwz(rng)
