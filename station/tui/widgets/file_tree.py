"""The tree of an image's partitions, folders and files, what is not rescued in red, marks for a
selection.

Children are added when a folder is first opened, so a filesystem of 100,000 files costs nothing
until it is looked at.  Space marks (and unmarks) the entry under the cursor; enter opens a folder.
A new listing (refresh) keeps the folders that were open and the cursor where it was.
"""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from station.core.units import fmt_bytes
from station.views.browse import Listing, Node

FOLDERS = ("dir", "partition")


def node_label(n: Node, marked: bool) -> Text:
    """A line of the tree: mark, name, size, and what is not rescued (red) or a note (dim)."""
    t = Text("● " if marked else "  ", style="bold yellow" if marked else "")
    name_style = "strike dim" if n.deleted else ("bold" if n.kind in FOLDERS else "")
    t.append(n.name + ("/" if n.kind == "dir" else ""), style=name_style)
    if n.kind not in FOLDERS or n.kind == "partition":
        t.append(f"  {fmt_bytes(n.size)}", style="dim")
    if n.below:
        what = "not rescued" if n.kind not in FOLDERS else "not rescued inside"
        t.append(f"  {fmt_bytes(n.below)} {what}", style="bold red")
    if n.record_unrescued:
        t.append("  record lost", style="bold red")
    if n.deleted:
        t.append("  deleted", style="dim")
    if n.note:
        t.append(f"  {n.note}", style="dim")
    return t


class FileTree(Tree[str]):
    """A Listing as a tree; each node's data is its path."""

    BINDINGS = [
        Binding("space", "toggle_mark", "Mark"),
    ]

    class Marked(Message):
        """The marks changed (the screen says what is selected)."""

        def __init__(self, marked: set[str]) -> None:
            super().__init__()
            self.marked = set(marked)

    def __init__(self, **kw) -> None:
        super().__init__("image", **kw)
        self.show_root = False
        self.listing: Listing | None = None
        self.marked: set[str] = set()
        self.hit_only = False
        self._by_path: dict[str, TreeNode[str]] = {}
        self._opened: set[str] = set()

    # -- content ------------------------------------------------------------------------------

    def show(self, listing: Listing) -> None:
        """Draw a (new) listing, keeping what was open, marked (if still there) and under the cursor."""
        was_open = {p for p, tn in self._by_path.items() if tn.is_expanded}
        cursor = self.cursor_node.data if self.cursor_node is not None else None
        self.listing = listing
        self.marked &= set(listing.nodes)
        self.clear()
        self._by_path, self._opened = {}, set()
        for path in listing.roots:
            self._add(self.root, path)
        for path in sorted(was_open, key=len):
            tn = self._by_path.get(path)
            if tn is not None:
                self._fill(path)
                tn.expand()
        if cursor in self._by_path:
            self.call_after_refresh(self.move_cursor, self._by_path[cursor])

    def _visible(self, n: Node) -> bool:
        return not self.hit_only or n.hit

    def _add(self, parent: TreeNode[str], path: str) -> None:
        assert self.listing is not None
        n = self.listing.nodes[path]
        if not self._visible(n):
            return
        label = node_label(n, path in self.marked)
        if n.children:
            tn = parent.add(label, data=path)
        else:
            tn = parent.add_leaf(label, data=path)
        self._by_path[path] = tn

    def _fill(self, path: str) -> None:
        """A folder's children, added the first time it is opened."""
        if path in self._opened or self.listing is None:
            return
        self._opened.add(path)
        tn = self._by_path[path]
        for child in self.listing.nodes[path].children:
            self._add(tn, child)

    def on_tree_node_expanded(self, event: Tree.NodeExpanded[str]) -> None:
        if event.node.data is not None:
            self._fill(event.node.data)

    def open_path(self, path: str) -> None:
        """Open every folder down to `path` and put the cursor on it."""
        parts = path.strip("/").split("/")
        for i in range(1, len(parts)):
            folder = "/" + "/".join(parts[:i])
            if folder in self._by_path:
                self._fill(folder)
                self._by_path[folder].expand()
        if path in self._by_path:
            self.call_after_refresh(self._move_when_laid_out, self._by_path[path], 10)

    def _move_when_laid_out(self, node: TreeNode, tries: int) -> None:
        """The cursor goes to a node only once the opened folders have lines (a slow machine may
        need more than one refresh)."""
        if node.line < 0 and tries > 0:
            self.call_after_refresh(self._move_when_laid_out, node, tries - 1)
        else:
            self.move_cursor(node)

    def set_hit_only(self, on: bool) -> None:
        """Show only what has bytes not rescued (and the folders holding it)."""
        self.hit_only = on
        if self.listing is not None:
            self.show(self.listing)

    # -- marks ----------------------------------------------------------------------------------

    @property
    def current(self) -> str | None:
        node = self.cursor_node
        return node.data if node is not None else None

    def action_toggle_mark(self) -> None:
        path = self.current
        if path is None or self.listing is None:
            return
        self.marked.symmetric_difference_update({path})
        self._by_path[path].set_label(node_label(self.listing.nodes[path], path in self.marked))
        self.post_message(self.Marked(self.marked))

    def selection(self) -> list[str]:
        """The marked entries, or the one under the cursor when none is marked."""
        if self.marked:
            return sorted(self.marked)
        return [self.current] if self.current is not None else []
