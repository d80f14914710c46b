"""Public pages of the shell: home, language switch."""

from __future__ import annotations

import re
from collections.abc import Callable
from types import SimpleNamespace
from urllib.parse import urlparse

from flask import current_app, redirect, render_template, request, session, url_for
from markupsafe import Markup, escape

from core import bp
from core.forms import search_field
from core.i18n import current_language

bp.add_app_template_global(search_field)


@bp.get("/")
def home():
    return render_template("core/home.html")


@bp.post("/lang")
def set_language():
    lang = request.form.get("lang", "")
    if lang in current_app.config["LANGUAGES"]:
        session["lang"] = lang
    target = request.form.get("next") or request.referrer or url_for("core.home")
    parsed = urlparse(target)
    if parsed.netloc and parsed.netloc != request.host:
        target = url_for("core.home")
    return redirect(target, code=303)


@bp.get("/healthz")
def healthz():
    return {"status": "ok"}


# --- Template helpers of the shell (guards for pages that other areas add) ---------------


@bp.app_template_global()
def has_endpoint(name: str) -> bool:
    """True when a view with this endpoint name is registered (e.g. 'accounts.logout')."""
    return name in current_app.view_functions


_ID_MARK = 9876543210


def url_for_ids(endpoint: str, key: str, **values) -> Callable[[int], str]:
    """id -> url_for(endpoint, key=id, **values), from ONE url_for call: a list page would
    otherwise build one per row (a tenth of a list request). For integer route values."""
    prefix, suffix = url_for(endpoint, **{key: _ID_MARK}, **values).rsplit(str(_ID_MARK), 1)
    return lambda ident: f"{prefix}{int(ident)}{suffix}"


@bp.app_template_global()
def url_if(name: str, **values) -> str | None:
    """url_for(name, **values) when the endpoint exists, else None (for optional links)."""
    if name not in current_app.view_functions:
        return None
    try:
        return url_for(name, **values)
    except Exception:  # missing route arguments: the link is simply not shown
        return None


@bp.app_template_global()
def path_if(path: str, method: str = "GET") -> str | None:
    """`path` when a route answers it for `method`, else None (when the endpoint name is unknown)."""
    from werkzeug.routing import RequestRedirect

    adapter = current_app.url_map.bind("localhost")
    try:
        adapter.match(path, method=method)
    except RequestRedirect as redirect_:  # '/x' -> '/x/' (strict slashes)
        return urlparse(redirect_.new_url).path
    except Exception:  # NotFound, MethodNotAllowed
        return None
    return path


# --- Fragments of the shell rendered once --------------------------------------------------

_HOLE = re.compile("\x00(\\w+)\x00")
_FRAGMENTS_LIMIT = 512


@bp.app_template_global()
def fragment(name: str, *key: object, caller: Callable, cache: bool = True, **holes: object) -> Markup:
    """A piece of the page shell that reads the same for every request with the same key.

    `{% call(h) fragment('nav', request.blueprint, csrf=csrf_token()) %}...{{ h.csrf }}...{% endcall %}`

    The block is rendered once per app, language and key. Its per-request values, the
    holes, are passed in as keyword arguments: the block writes them as `{{ h.name }}` (not
    filtered: a block that leaves one out is logged and not cached; nor tested, which cannot
    be seen: a hole is a marker while the block renders), and they are filled in
    (escaped) on every request. With `cache=False` (a signed-in user's header) or templates
    that reload (development), the block is simply rendered with the values."""
    def render(values: dict[str, object]) -> Markup:
        return caller(SimpleNamespace(**values)) if caller.arguments else caller()

    if not cache or current_app.jinja_env.auto_reload:
        return render(holes)
    store: dict[tuple, list[str]] = current_app.extensions.setdefault("canal.fragments", {})
    full_key = (name, current_language(), *key)
    parts = store.get(full_key)
    if parts is None:
        markers = {hole: Markup(f"\x00{hole}\x00") for hole in holes}  # noqa: S704 - identifiers
        parts = _HOLE.split(str(render(markers)))  # literal, hole name, literal, ...
        if set(parts[1::2]) != set(holes):
            # A hole the block filtered or left out (`h.x|upper`) cannot be filled in later:
            # this block is rendered on every request instead. (A hole the block only tests,
            # `{% if h.x %}`, cannot be seen here: holes are for values written as they are.)
            current_app.logger.warning("fragment %r: holes %s are not all written as {{ h.name }}; not cached",
                                       name, sorted(holes))
            return render(holes)
        if len(store) >= _FRAGMENTS_LIMIT:
            store.clear()
        store[full_key] = parts
    if len(parts) == 1:
        return Markup(parts[0])  # noqa: S704 - rendered by the autoescaping template
    return Markup("".join(  # noqa: S704 - literals rendered by the template, holes escaped here
        str(escape(holes[part])) if i % 2 else part for i, part in enumerate(parts)))
