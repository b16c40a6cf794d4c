"""`appliance intel`: threat intelligence from the box's shell (air-gapped imports, feeds, search, allowlist)."""

from __future__ import annotations

import getpass
import time
from pathlib import Path

import msgspec

from appliance.cli.engine_commands import open_store
from appliance.cli.errors import CliError
from appliance.store.data_dir import DataDirectory


def register(subparsers) -> None:
    intel = subparsers.add_parser("intel", help="threat intelligence: import files, feeds, search, allowlist")
    commands = intel.add_subparsers(dest="intel_command", required=True)

    def command(name: str, help: str, run) -> object:
        parser = commands.add_parser(name, help=help)
        parser.add_argument("--data-dir", required=True)
        parser.set_defaults(run=run)
        return parser

    imported = command("import", "import a STIX 2.1 bundle, a MISP event export, a CSV or a one-per-line list",
                       run_import)
    imported.add_argument("file", type=Path)
    imported.add_argument("--name", help="the source's name, shown in alerts (default: the file's name)")
    imported.add_argument("--format", choices=["stix", "misp", "list"], help="default: recognised from the content")
    imported.add_argument("--expiry-days", type=float, help="indicators without their own expiry stop matching "
                          "this many days after the file last listed them")
    imported.add_argument("--confidence", type=int, default=50, help="for entries that carry none (0-100)")
    imported.add_argument("--file-hashes", action="store_true",
                          help="bare hashes in a list are of files, not JA3 / certificate SHA-1")

    feed = command("add-feed", "add a feed fetched on a schedule by the notifier service", run_add_feed)
    feed.add_argument("--name", required=True)
    feed.add_argument("--kind", choices=["taxii", "https_list"], required=True)
    feed.add_argument("--url", required=True, help="the list's URL, or the TAXII 2.1 API root")
    feed.add_argument("--collection", help="TAXII: the collection id")
    feed.add_argument("--format", choices=["stix", "misp", "list"], default="list", help="what an HTTPS list holds")
    feed.add_argument("--interval", type=float, default=3600.0, help="seconds between fetches (at least 300)")
    feed.add_argument("--ca-cert", type=Path, help="PEM of a private CA the server's certificate chains to")
    feed.add_argument("--username")
    feed.add_argument("--password-file", type=Path)
    feed.add_argument("--expiry-days", type=float, default=30.0)

    command("sources", "feeds and imports: count, last update, last result and errors (JSON)", run_sources)
    fetch = command("fetch", "fetch a feed now, from this shell", run_fetch)
    fetch.add_argument("name")
    for name, enabled in (("enable", True), ("disable", False)):
        toggled = command(name, f"{name} a feed or an import (a disabled one is neither fetched nor matched)",
                          run_toggle)
        toggled.add_argument("name")
        toggled.set_defaults(enabled=enabled)
    removed = command("remove", "remove a source and its indicators", run_remove)
    removed.add_argument("name")

    listed = command("indicators", "indicators with source, confidence, first/last seen, expiry (JSON)",
                     run_indicators)
    listed.add_argument("--source")
    listed.add_argument("--kind")
    listed.add_argument("--limit", type=int, default=100)
    searched = command("search", "which sources list a value, and whether it matches (JSON)", run_search)
    searched.add_argument("value")

    allowed = command("allow", "the site's allowlist: never match this address, network or domain", run_allow)
    allowed.add_argument("value")
    allowed.add_argument("--comment", default="")
    disallowed = command("disallow", "remove an allowlist entry", run_disallow)
    disallowed.add_argument("value")


def _store(args):
    data_dir = DataDirectory.at(args.data_dir)
    if not data_dir.is_initialised():
        raise CliError(f"{data_dir.root} holds no NetSenX database: run `appliance init` first")
    return open_store(data_dir)


def _audit(store, action: str, target: str, details: dict) -> None:
    from appliance.audit import log as audit

    audit.record(store, username=f"cli:{getpass.getuser()}", source_ip="local", action=action, target=target,
                 details=details)


def _print_json(value) -> None:
    print(msgspec.json.format(msgspec.json.encode(value), indent=2).decode())


def _source(store, name: str):
    from appliance.intel import repository

    source = repository.get_source(store, name)
    if source is None:
        raise CliError(f"no threat-intel source {name!r} (`appliance intel sources` lists them)")
    return source


def run_import(args) -> int:
    from appliance.intel.imports import ImportFailed, import_file

    try:
        data = args.file.read_bytes()
    except OSError as error:
        raise CliError(f"cannot read {args.file}: {error.strerror}") from error
    if not 0 <= args.confidence <= 100:
        raise CliError(f"--confidence must be 0..100, got {args.confidence}")
    store = _store(args)
    try:
        result = import_file(store, args.name or args.file.name, data, time.time(), args.format,
                             expiry_days=args.expiry_days, default_confidence=args.confidence,
                             tls_hashes=not args.file_hashes)
        _audit(store, "threat_intel.imported", result.source.id,
               {"name": result.source.name, "received": result.received, "added": result.added})
    except ImportFailed as error:
        raise CliError(f"{args.file}: {error}") from error
    finally:
        store.close()
    print(f"{result.source.name}: {result.received} indicators read, {result.added} new, "
          f"{result.source.indicator_count} in this source, {result.refused} entries refused")
    for problem in result.problems[:5]:
        print(f"  refused: {problem}")
    if result.added:
        print(f"  the engine searches the flow log for the {result.added} new ones (retro-hunt): "
              "`appliance intel sources` shows what it found")
    return 0


def run_add_feed(args) -> int:
    from appliance.intel import repository
    from appliance.intel.feeds import FeedIn, InvalidFeed, check_feed

    try:
        fields = {"name": args.name, "kind": args.kind, "url": args.url, "collection": args.collection,
                  "format": args.format, "interval_seconds": args.interval, "username": args.username,
                  "expiry_days": args.expiry_days,
                  "ca_cert": args.ca_cert.read_text() if args.ca_cert else None,
                  "password": args.password_file.read_text().strip() if args.password_file else None}
        source_in = check_feed(msgspec.convert(fields, FeedIn))
    except OSError as error:
        raise CliError(f"cannot read {error.filename}: {error.strerror}") from error
    except (msgspec.ValidationError, InvalidFeed) as error:
        raise CliError(str(error)) from error
    store = _store(args)
    try:
        source = repository.create_source(store, source_in, time.time())
        _audit(store, "threat_intel.feed_added", source.id, {"name": source.name, "url": source.url})
    except repository.DuplicateSource as error:
        raise CliError(str(error)) from error
    finally:
        store.close()
    print(f"feed {source.name} ({source.id}) added: the notifier fetches it every {source.interval_seconds:g} s")
    return 0


def run_sources(args) -> int:
    from appliance.intel import repository

    store = _store(args)
    try:
        _print_json(repository.list_sources(store))
    finally:
        store.close()
    return 0


def run_fetch(args) -> int:
    from appliance.intel import feeds
    from appliance.intel.imports import ImportFailed

    store = _store(args)
    try:
        source = _source(store, args.name)
        if source.kind == "file":
            raise CliError(f"{source.name} is a file import: `appliance intel import` it again")
        try:
            result = feeds.fetch(store, source, time.time())
        except ImportFailed as error:
            raise CliError(f"{source.name}: {error}") from error
    finally:
        store.close()
    print(f"{source.name}: {result.received} indicators read, {result.added} new, {result.refused} refused")
    return 0


def run_toggle(args) -> int:
    from appliance.intel import repository

    store = _store(args)
    try:
        source = _source(store, args.name)
        repository.set_enabled(store, source.id, args.enabled, time.time())
        _audit(store, "threat_intel.source_changed", source.id, {"name": source.name, "enabled": args.enabled})
    finally:
        store.close()
    print(f"{source.name} {'enabled' if args.enabled else 'disabled'}")
    return 0


def run_remove(args) -> int:
    from appliance.intel import repository

    store = _store(args)
    try:
        source = _source(store, args.name)
        repository.delete_source(store, source.id)
        _audit(store, "threat_intel.source_deleted", source.id, {"name": source.name})
    finally:
        store.close()
    print(f"{source.name} and its {source.indicator_count} indicators removed")
    return 0


def run_indicators(args) -> int:
    from appliance.intel import repository
    from appliance.intel.indicators import KINDS

    if args.kind and args.kind not in KINDS:
        raise CliError(f"--kind must be one of {', '.join(KINDS)}")
    store = _store(args)
    try:
        source_id = _source(store, args.source).id if args.source else None
        found, total = repository.list_indicators(store, source_id=source_id, kind=args.kind, limit=args.limit)
        _print_json({"indicators": found, "total": total})
    finally:
        store.close()
    return 0


def run_search(args) -> int:
    from appliance.intel.search import search

    store = _store(args)
    try:
        _print_json(search(store, args.value))
    finally:
        store.close()
    return 0


def run_allow(args) -> int:
    from appliance.intel import repository
    from appliance.intel.indicators import NotAnIndicator
    from appliance.intel.overrules import allowlist_value

    try:
        value = allowlist_value(args.value)
    except NotAnIndicator as error:
        raise CliError(str(error)) from error
    store = _store(args)
    try:
        repository.allow(store, value, args.comment, f"cli:{getpass.getuser()}", time.time())
        _audit(store, "threat_intel.allowed", value, {"comment": args.comment})
    finally:
        store.close()
    print(f"{value} overrules every feed from now on")
    return 0


def run_disallow(args) -> int:
    from appliance.intel import repository

    store = _store(args)
    try:
        if not repository.disallow(store, args.value):
            raise CliError(f"no allowlist entry {args.value!r}")
        _audit(store, "threat_intel.allow_removed", args.value, {})
    finally:
        store.close()
    print(f"{args.value} removed from the allowlist")
    return 0
