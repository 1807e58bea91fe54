"""Names, addresses and contact details for the synthetic Romanian and Polish HIS.

Everything here is plain data plus small pure functions that draw from a caller's seeded
``random.Random``; nothing keeps state. Romanian names carry ă â î ș ț (comma below, as the
civil registry writes them), Polish ones ą ć ę ł ń ó ś ź ż. Polish family names ending in
-ski/-cki/-dzki take the feminine form -ska/-cka/-dzka; :func:`family_stem` undoes that so a
mother and her son can be recognised as one family.
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass

LOCALES = ("ro", "pl")
COUNTRY = {"ro": "RO", "pl": "PL"}


def _words(text: str) -> tuple[str, ...]:
    """The whitespace-separated words of a block of text."""
    return tuple(text.split())


def _table(text: str, columns: int) -> tuple[tuple[str, ...], ...]:
    """Lines of ``text`` as rows whose last ``columns - 1`` fields are single words."""
    lines = text.strip().splitlines()
    return tuple(tuple(line.strip().rsplit(maxsplit=columns - 1)) for line in lines)


GIVEN = {
    ("ro", "M"): _words("""
        Andrei Alexandru Mihai Ion Gheorghe Constantin Vasile Ștefan Florin Cristian Bogdan Răzvan
        Radu Dumitru Nicolae Sorin Marius Ionuț Cătălin Tudor Matei Luca Horia Lucian Adrian
        Ovidiu Dănuț Petru Toma Iulian Sebastian Teodor Viorel Aurel Octavian
    """),
    ("ro", "F"): _words("""
        Maria Elena Ioana Ana Andreea Mihaela Cristina Gabriela Alexandra Daniela Irina Raluca
        Ștefania Roxana Oana Alina Simona Larisa Bianca Iulia Teodora Ecaterina Georgiana Corina
        Viorica Florentina Anișoara Mădălina Cătălina Ilinca Smaranda Rodica Tatiana
    """),
    ("pl", "M"): _words("""
        Jan Andrzej Piotr Krzysztof Stanisław Tomasz Paweł Józef Marcin Marek Michał Grzegorz
        Jerzy Tadeusz Adam Łukasz Zbigniew Ryszard Dariusz Henryk Mariusz Kazimierz Wojciech
        Mateusz Jakub Bartłomiej Szymon Przemysław Wiesław Jarosław Radosław Mikołaj Maciej
    """),
    ("pl", "F"): _words("""
        Anna Maria Katarzyna Małgorzata Agnieszka Barbara Ewa Krystyna Elżbieta Zofia Janina
        Teresa Joanna Magdalena Monika Jadwiga Danuta Irena Halina Helena Beata Aleksandra Marta
        Dorota Iwona Grażyna Bożena Urszula Jolanta Łucja Wiesława Zuzanna Żaneta Jagoda
    """),
}

FAMILY = {
    "ro": _words("""
        Popescu Ionescu Popa Pop Radu Dumitrescu Stan Stoica Gheorghe Matei Ciobanu Rusu Munteanu
        Moldovan Lazăr Șerban Constantinescu Mocanu Mihăilă Tănase Năstase Bălan Dobre Barbu
        Nistor Florea Marin Toma Ilie Țurcanu Ștefănescu Sârbu Căpraru Vlădescu Dragomir Cristea
        Preda Neagu Oprea Zamfir Țăranu Cîrstea Grigoraș Jitaru Lungu Pîrvu Ursu Câmpeanu
        Brâncoveanu Mureșan Crăciun Păun Bădescu Enache Țiriac Sălăjan
    """),
    "pl": _words("""
        Nowak Kowalski Wiśniewski Wójcik Kowalczyk Kamiński Lewandowski Zieliński Szymański
        Woźniak Dąbrowski Kozłowski Jankowski Mazur Wojciechowski Kwiatkowski Krawczyk Kaczmarek
        Piotrowski Grabowski Zając Pawłowski Michalski Król Wieczorek Jabłoński Wróbel Majewski
        Olszewski Stępień Malinowski Jaworski Adamczyk Dudek Nowicki Pawlak Górski Witkowski
        Walczak Sikora Baran Rutkowski Szewczyk Ostrowski Pietrzak Duda Zawadzki Bąk Chmielewski
        Włodarczyk Czarnecki Sokołowski Kaźmierczak Głowacki Kołodziej Żak Żurawski Kuźniar
        Gołębiowski Mańkowski Frańczak Ziółkowski Brzeziński Gradzki
    """),
}

# Romania: city, CNP county code (Bucharest sectors carry 41-46), postal code prefix.
# Poland: city, postal code prefix (the county column is Romanian only).
CITIES = {
    "ro": _table(
        """
        Cluj-Napoca 12 400
        București 41 011
        București 42 021
        București 43 031
        București 44 041
        București 45 051
        București 46 061
        Iași 22 700
        Timișoara 35 300
        Constanța 13 900
        Brașov 08 500
        Craiova 16 200
        Galați 17 800
        Ploiești 29 100
        Oradea 05 410
        Sibiu 32 550
        Suceava 33 720
        Târgu Mureș 26 540
        Pitești 03 110
        Bacău 04 600
        Arad 02 310
        Baia Mare 24 430
        Buzău 10 120
        Botoșani 07 710
        Satu Mare 30 440
        Râmnicu Vâlcea 38 240
        Piatra Neamț 27 610
        Târgoviște 15 130
        Focșani 39 620
        Bistrița 06 420
        Reșița 11 320
        Tulcea 36 820
        Slatina 28 230
        Călărași 51 910
        Giurgiu 52 080
        Alba Iulia 01 510
        Deva 20 330
        Zalău 31 450
        Sfântu Gheorghe 14 520
        Miercurea Ciuc 19 530
        Vaslui 37 730
        Alexandria 34 140
        Slobozia 21 920
        Brăila 09 810
        Târgu Jiu 18 210
        Voluntari 23 077
        Drobeta-Turnu Severin 25 220
    """,
        3,
    ),
    "pl": tuple(
        (city, "", prefix)
        for city, prefix in _table(
            """
        Gliwice 44-1
        Zabrze 41-8
        Katowice 40-0
        Bytom 41-9
        Rybnik 44-2
        Tychy 43-1
        Sosnowiec 41-2
        Częstochowa 42-2
        Kraków 31-0
        Warszawa 02-6
        Łódź 90-3
        Wrocław 50-3
        Poznań 60-1
        Gdańsk 80-2
        Opole 45-0
        Kielce 25-5
        Rzeszów 35-0
        Lublin 20-0
        Białystok 15-0
        Toruń 87-1
        Bielsko-Biała 43-3
        Racibórz 47-4
        Żory 44-2
        Świętochłowice 41-6
    """,
            2,
        )
    ),
}

STREETS = {
    "ro": (
        "Str. Mihai Eminescu", "Bd. Unirii", "Str. Avram Iancu", "Calea Victoriei",
        "Str. Republicii", "Str. Ștefan cel Mare", "Bd. Independenței", "Str. Libertății",
        "Str. Mărășești", "Aleea Trandafirilor", "Str. Horea", "Str. Păcii", "Str. Câmpului",
        "Str. Țesătorilor", "Bd. Revoluției din Decembrie", "Str. Lalelelor", "Str. Înfrățirii",
    ),
    "pl": (
        "ul. Słowackiego", "ul. Mickiewicza", "ul. Kościuszki", "ul. Piłsudskiego",
        "ul. Żeromskiego", "ul. Szkolna", "ul. Ogrodowa", "ul. Lipowa", "ul. Wrocławska",
        "ul. Częstochowska", "al. Jana Pawła II", "ul. Świętokrzyska", "ul. Źródlana",
        "ul. Łąkowa", "ul. Kwiatowa", "ul. Zwycięstwa", "ul. Wyszyńskiego",
    ),
}  # fmt: skip

_FEMININE_ENDINGS = (("ski", "ska"), ("cki", "cka"), ("dzki", "dzka"))
_ASCII_EXTRA = str.maketrans({"ł": "l", "Ł": "L"})


@dataclass(frozen=True)
class Address:
    """A postal address; ``county`` is the Romanian CNP county code ('' in Poland)."""

    line: str
    city: str
    postal_code: str
    country: str
    county: str


def given_name(rng: random.Random, locale: str, gender: str) -> str:
    """A given name for ``gender`` ('M' or 'F') in ``locale``."""
    return rng.choice(GIVEN[locale, gender])


def family_name(rng: random.Random, locale: str) -> str:
    """A family name in its base (masculine) form; see :func:`family_form`."""
    return rng.choice(FAMILY[locale])


def family_form(base: str, locale: str, gender: str) -> str:
    """The form of family name ``base`` a person of ``gender`` carries (Kowalski -> Kowalska)."""
    if locale != "pl" or gender != "F":
        return base
    for masculine, feminine in _FEMININE_ENDINGS:
        if base.endswith(masculine):
            return base[: -len(masculine)] + feminine
    return base


def family_stem(family: str) -> str:
    """The base form of a (possibly feminine) family name: Kowalska -> Kowalski."""
    for masculine, feminine in _FEMININE_ENDINGS:
        if family.endswith(feminine):
            return family[: -len(feminine)] + masculine
    return family


def ascii_fold(text: str) -> str:
    """``text`` without diacritics (for e-mail addresses): Łucja Ștefănescu -> Lucja Stefanescu."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_ASCII_EXTRA))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def address(rng: random.Random, locale: str) -> Address:
    """A street address in a city of ``locale``."""
    city, county, prefix = rng.choice(CITIES[locale])
    street = rng.choice(STREETS[locale])
    number = rng.randint(1, 180)
    if locale == "ro":
        line = f"{street} nr. {number}"
        if rng.random() < 0.5:
            line += f", bl. {rng.choice('ABCDM')}{rng.randint(1, 30)}, ap. {rng.randint(1, 80)}"
        postal = prefix + f"{rng.randint(0, 999):03d}"
    else:
        line = f"{street} {number}"
        if rng.random() < 0.5:
            line += f"/{rng.randint(1, 60)}"
        postal = prefix + f"{rng.randint(0, 99):02d}"
    return Address(line, city, postal, COUNTRY[locale], county)


def phone(rng: random.Random, locale: str) -> str:
    """A mobile phone number in international format."""
    if locale == "ro":
        return f"+40 7{rng.randint(20, 99)} {rng.randint(0, 999):03d} {rng.randint(0, 999):03d}"
    return f"+48 {rng.choice('5678')}{rng.randint(0, 99):02d} {rng.randint(0, 999):03d} " + (
        f"{rng.randint(0, 999):03d}"
    )


def email(given: str, family: str, serial: int, domain: str = "example.com") -> str:
    """A unique, reserved-domain e-mail address (RFC 2606) built from a person's name."""
    local = ascii_fold(f"{given}.{family}").lower().replace(" ", "").replace("'", "")
    return f"{local}.{serial}@{domain}"
