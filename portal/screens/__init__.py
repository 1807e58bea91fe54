"""The portal's screens. Each is a module with a Flask ``blueprint`` and, when it has a place in
the navigation and on the home page, a ``TILE``; ``SCREENS`` lists them in the order the home
page shows them. A screen's templates live in ``portal/templates/<screen>/``, its words in
``portal/translations/words/<screen>.py``."""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

from flask import Flask
from flask_babel import lazy_gettext  # type: ignore[import-untyped]


@dataclass(frozen=True)
class Tile:
    """A screen's entry in the navigation and on the home page: ``endpoint`` is its landing
    view (``blueprint.view``); ``title`` and ``description`` are lazy translations."""

    endpoint: str
    title: lazy_gettext
    description: lazy_gettext


def _modules() -> list[ModuleType]:
    from portal.screens import (
        appointments,
        documents,
        history,
        imaging,
        paraclinical,
        questionnaires,
        record,
        results,
        settings,
        shares,
        studies,
        uploads,
    )

    return [
        studies,
        record,
        results,
        paraclinical,
        imaging,
        documents,
        uploads,
        questionnaires,
        appointments,
        shares,
        settings,
        history,
    ]


def register(app: Flask) -> list[Tile]:
    """Register every screen's blueprint on ``app``; the tiles, in order."""
    tiles = []
    for module in _modules():
        app.register_blueprint(module.blueprint)
        tile = getattr(module, "TILE", None)
        if tile is not None:
            tiles.append(tile)
    return tiles
