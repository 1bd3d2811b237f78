"""sqlglot's T-SQL dialect plus the two Synapse serverless constructs it lacks.

sqlglot 30 parses `CREATE OR ALTER VIEW`, `IF ... BEGIN ... END` and
`EXEC sp_executesql`, but not `OPENROWSET(BULK '...', ...) WITH (...)` (it raises
"Expecting )") nor `CREATE EXTERNAL DATA SOURCE` (it falls back to an opaque
Command). `SynapseServerless` parses both into real syntax-tree nodes, so every
statement the view generator writes is checked by a parser, with nothing left
unparsed, and its WITH columns can be read back from the tree.

    sqlglot.parse(sql, read=SynapseServerless, error_level=ErrorLevel.RAISE)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from sqlglot import exp
from sqlglot.dialects.tsql import TSQL
from sqlglot.tokens import TokenType


class OpenRowset(exp.Expression, exp.Func):
    """`OPENROWSET(BULK <path>, <option> = <value>, ...) [WITH (<column defs>)]`."""

    arg_types: ClassVar[dict[str, bool]] = {"this": True, "options": False, "columns": False}


class CreateExternalDataSource(exp.Expression):
    """`CREATE EXTERNAL DATA SOURCE <name> WITH (<option> = <value>, ...)`."""

    arg_types: ClassVar[dict[str, bool]] = {"this": True, "options": True}


class SynapseServerless(TSQL):
    """T-SQL as Synapse serverless SQL pools accept it, for parsing generated statements."""

    class Parser(TSQL.Parser):
        FUNCTION_PARSERS: ClassVar[dict[str, Callable[..., exp.Expression]]] = {
            **TSQL.Parser.FUNCTION_PARSERS,
            "OPENROWSET": lambda self: self._parse_openrowset(),
        }

        def _parse_option(self) -> exp.Property:
            key = self._parse_var(any_token=True)
            if not self._match(TokenType.EQ):
                self.raise_error("Expected = after an option name")
            value = self._parse_string() or self._parse_id_var(any_token=False)
            if value is None:
                self.raise_error("Expected a string or an identifier as the option value")
            return self.expression(exp.Property(this=key, value=value))

        def _parse_openrowset(self) -> OpenRowset:
            if not self._match_text_seq("BULK"):
                self.raise_error("Expected BULK '<path>' in OPENROWSET")
            path = self._parse_string()
            if path is None:
                self.raise_error("Expected a string path after BULK")
            options = []
            while self._match(TokenType.COMMA):
                options.append(self._parse_option())
            columns = None
            # Like OPENJSON: `) WITH (` here; the caller matches the WITH list's `)`.
            if self._match_pair(TokenType.R_PAREN, TokenType.WITH):
                self._match_l_paren()
                columns = self._parse_csv(lambda: self._parse_column_def(self._parse_id_var(any_token=False)))
            return self.expression(OpenRowset(this=path, options=options, columns=columns))

        def _parse_create(self) -> exp.Expr:
            if self._match_text_seq("EXTERNAL", "DATA", "SOURCE"):
                name = self._parse_id_var(any_token=False)
                if not (self._match(TokenType.WITH) and self._match(TokenType.L_PAREN)):
                    self.raise_error("Expected WITH ( after the data source name")
                options = self._parse_csv(self._parse_option)
                self._match_r_paren()
                return self.expression(CreateExternalDataSource(this=name, options=options))
            return super()._parse_create()

    class Generator(TSQL.Generator):
        TRANSFORMS: ClassVar[dict[type[exp.Expr], Callable[..., str]]] = {
            **TSQL.Generator.TRANSFORMS,
            OpenRowset: lambda self, e: (
                f"OPENROWSET(BULK {self.sql(e, 'this')}"
                + "".join(f", {self.sql(o, 'this')} = {self.sql(o, 'value')}" for o in e.args.get("options") or [])
                + ")"
                + (f" WITH ({self.expressions(e, key='columns', flat=True)})" if e.args.get("columns") else "")
            ),
            CreateExternalDataSource: lambda self, e: (
                f"CREATE EXTERNAL DATA SOURCE {self.sql(e, 'this')} WITH ("
                + ", ".join(f"{self.sql(o, 'this')} = {self.sql(o, 'value')}" for o in e.args["options"])
                + ")"
            ),
        }


def parse_strict(sql: str) -> list[exp.Expr]:
    """Parse T-SQL as Synapse serverless accepts it; raise on any error or unparsed part.

    sqlglot turns statements it cannot parse into opaque `Command` nodes with a
    warning instead of failing; here they are errors. Dynamic SQL passed to
    sp_executesql as a literal is parsed too.
    """
    import sqlglot
    from sqlglot.errors import ErrorLevel, ParseError

    statements = [s for s in sqlglot.parse(sql, read=SynapseServerless, error_level=ErrorLevel.RAISE) if s]
    if not statements:
        raise ParseError(f"no statement in {sql!r}")
    for statement in statements:
        for node in statement.walk():
            if isinstance(node, exp.Command):
                raise ParseError(f"sqlglot could not parse part of this statement: {node.sql()[:200]!r}")
            if isinstance(node, exp.ExecuteSql) and node.expressions:
                literal = node.expressions[0]
                if isinstance(literal, exp.National) or (isinstance(literal, exp.Literal) and literal.is_string):
                    parse_strict(literal.name)
    return statements
