"""Text from data on the workstation's screens: shown as it is, never read as markup.

Paths, serial numbers, model names, SMART reasons, refusals and error messages can hold
brackets (`[current_pass]`, `[/]`, `[$x]`) that Textual would take for markup: a tag eaten, a
line gone, or a MarkupError instead of the screen.  Neither rich's nor Textual's `escape` is
right for both (a trailing backslash is doubled, `[$x]` still vanishes), so data never goes
through markup at all:

* `safe(template, **values)`: markup written here, with data in `$name` variables, which
  Textual substitutes after parsing (Content templates);
* `plain(value, style)`: a DataTable cell or a Select prompt as a rich Text;
* notifications that carry data are sent with `markup=False`.
"""

from __future__ import annotations

from rich.text import Text
from textual.content import Content


def safe(template: str, **values: object) -> Content:
    """`template`'s markup with each `$name` replaced by str(values[name]), shown as it is."""
    return Content.from_markup(template, **{k: str(v) for k, v in values.items()})


def plain(value: object, style: str = "") -> Text:
    """Data as a DataTable cell or a Select prompt (both read a str as markup)."""
    return Text(str(value), style=style)
