"""`fonoteca users add|list|remove|key`: the accounts of the Subsonic API (users.sqlite3 beside the catalog)."""

from __future__ import annotations

import sys
from typing import Any

import typer

from fonoteca.console import console, emit_line, emit_table, print_json
from fonoteca.hookspecs import hookimpl

users_app = typer.Typer(
    name="users",
    no_args_is_help=True,
    help="Accounts of the Subsonic API (for Symfonium, Feishin, DSub ...): users.sqlite3 "
    "beside the catalog; keys hashed, passwords encrypted with ARCHIVE/users.key.",
)


def _read_password() -> str:
    """One line from stdin when it is not a terminal; else asked twice without echo."""
    if not sys.stdin.isatty():
        line = sys.stdin.readline()
        return line.rstrip("\r\n")
    first = typer.prompt("Password", hide_input=True, err=True)
    second = typer.prompt("Password again", hide_input=True, err=True)
    if first != second:
        from fonoteca.errors import UsageError

        raise UsageError("the two passwords differ")
    return first


@users_app.command("add")
def users_add_command(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="User name (letters, digits, . _ @ -)."),
    password: bool = typer.Option(
        False,
        "--password",
        help="Set a password (read from stdin, or asked): needed by clients that sign in with user and password.",
    ),
    hash_only: bool = typer.Option(
        False,
        "--hash-only",
        help="Keep the password as an scrypt hash only: "
        "token auth (u+t+s) is then refused for this user, u+p still works.",
    ),
    admin: bool = typer.Option(False, "--admin", help="May look at other users and their playlists."),
    key: bool = typer.Option(False, "--key", help="Also create an API key and print it (shown once)."),
) -> None:
    """Add a user. Clients that speak OpenSubsonic sign in with an API key (fonoteca users key NAME)."""
    from fonoteca.commands import open_archive
    from fonoteca.subsonic import users as accounts

    archive = open_archive(ctx)
    secret = _read_password() if password else None
    accounts.add_user(archive.root, name, password=secret, admin=admin, hash_only=hash_only)
    console.print(
        f"added user {name}"
        + (
            " (password kept " + ("hashed)" if hash_only else "encrypted)")
            if secret is not None
            else " (no password: use an API key)"
        )
    )
    if key:
        emit_line(accounts.new_api_key(archive.root, name))


@users_app.command("list")
def users_list_command(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """The users, whether they have a password and how many API keys."""
    from fonoteca.commands import open_archive
    from fonoteca.subsonic import users as accounts

    archive = open_archive(ctx)
    conn = accounts.connect(archive.root)
    try:
        found = accounts.list_users(conn)
    finally:
        conn.close()
    if as_json:
        print_json(found)
        return
    emit_table(
        ("user", "admin", "password", "api_keys", "created_at"),
        [(u["name"], "yes" if u["admin"] else "no", u["password"], u["api_keys"], u["created_at"]) for u in found],
        right=("api_keys",),
        wide=("user",),
    )


@users_app.command("remove")
def users_remove_command(ctx: typer.Context, name: str = typer.Argument(..., help="User name.")) -> None:
    """Remove a user with their keys, stars, ratings, plays, playlists and play queue."""
    from fonoteca.commands import open_archive
    from fonoteca.subsonic import users as accounts

    accounts.remove_user(open_archive(ctx).root, name)
    console.print(f"removed user {name}")


@users_app.command("key")
def users_key_command(ctx: typer.Context, name: str = typer.Argument(..., help="User name.")) -> None:
    """Create a new API key for a user and print it (only its hash is kept: it cannot be shown again)."""
    from fonoteca.commands import open_archive
    from fonoteca.subsonic import users as accounts

    emit_line(accounts.new_api_key(open_archive(ctx).root, name))
    console.print(f"a new API key for {name}: give it to the player as its API key")


@hookimpl
def register_commands(app: typer.Typer) -> None:
    app.add_typer(users_app, name="users")


@hookimpl
def register_routes(app: Any) -> None:
    """The Subsonic API under /rest/ (when [subsonic] enabled, the default)."""
    from fonoteca.subsonic import install

    install(app)
