"""Drive the canvas editor the way a person does: mouse and keyboard."""

from playwright.sync_api import Locator, Page, expect

from workflows.models import Workflow

from .conftest import wait_until

COMMAND_KEY = "Control"


class EditorPage:
    """The editor of one workflow, opened in a browser page."""

    def __init__(self, page: Page, base_url: str, workflow: Workflow):
        self.page = page
        self.base_url = base_url
        self.workflow = workflow

    def open(self) -> "EditorPage":
        self.page.goto(f"{self.base_url}/workflows/{self.workflow.pk}/")
        self.page.wait_for_selector(".kc-viewport")
        self.page.wait_for_function(
            "document.querySelectorAll('.kc-node').length === "
            f"{len(self.workflow.nodes)}"
        )
        return self

    # -- Things on the page -------------------------------------------------

    def node(self, node_id: str) -> Locator:
        return self.page.locator(f'.kc-node[data-id="{node_id}"]')

    def port(self, node_id: str, handle: str = "out") -> Locator:
        return self.node(node_id).locator(f'.kc-port[data-handle="{handle}"]')

    def field(self, path: str) -> Locator:
        return self.page.locator(f'.kc-panel [data-path="{path}"]')

    @property
    def cards(self) -> Locator:
        return self.page.locator(".kc-node")

    @property
    def edges(self) -> Locator:
        return self.page.locator("path.kc-edge")

    @property
    def save_state(self) -> Locator:
        return self.page.locator("#save-state")

    def ids(self) -> set[str]:
        return set(
            self.page.eval_on_selector_all(
                ".kc-node", "els => els.map(e => e.dataset.id)"
            )
        )

    # -- Adding nodes -----------------------------------------------------------

    def drag_kind(self, kind: str, x: int, y: int) -> str:
        """Drag a kind from the palette onto the canvas; return the new id."""
        before = self.ids()
        item = self.page.locator(f'.kc-palette-item[data-kind="{kind}"]')
        item.drag_to(
            self.page.locator(".kc-viewport"), target_position={"x": x, "y": y}
        )
        return self._new_id(before)

    def add_with_command_palette(self, search: str) -> str:
        """Add a node with Ctrl+K, typing to filter and Enter; return its id."""
        before = self.ids()
        self.page.keyboard.press(f"{COMMAND_KEY}+k")
        palette = self.page.locator(".kc-command-input")
        expect(palette).to_be_focused()
        palette.fill(search)
        self.page.keyboard.press("Enter")
        expect(self.page.locator("dialog.kc-command-palette")).not_to_be_visible()
        return self._new_id(before)

    def _new_id(self, before: set[str]) -> str:
        new = wait_until(lambda: self.ids() - before)
        assert len(new) == 1, new
        return new.pop()

    # -- Editing in the panel ---------------------------------------------------

    def select(self, node_id: str) -> None:
        self.node(node_id).locator(".kc-node-name").click()
        expect(self.page.locator(".kc-panel")).to_be_visible()
        expect(self.page.locator(".kp-subtitle")).to_contain_text(f"id {node_id}")

    def fill(self, path: str, value) -> None:
        self.field(path).fill(str(value))

    def add_item(self, list_path: str) -> None:
        self.page.locator(f'.kc-panel [data-field="{list_path}"] > .kf-add').click()

    def open_section(self, path: str) -> None:
        details = self.page.locator(f'.kc-panel details[data-field="{path}"]')
        if not details.evaluate("d => d.open"):
            details.locator(":scope > summary").click()

    def close_panel(self) -> None:
        self.page.locator(".kp-close").click()
        expect(self.page.locator(".kc-panel")).to_be_hidden()

    # -- Linking ----------------------------------------------------------------

    def drag_link(self, source: str, target: str, handle: str = "out") -> None:
        """Drag from a source port and drop on the target card."""
        start = self.port(source, handle).bounding_box()
        end = self.node(target).locator(".kc-node-name").bounding_box()
        assert start and end, (source, target)
        mouse = self.page.mouse
        mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
        mouse.down()
        mouse.move(end["x"] + end["width"] / 2, end["y"] + end["height"] / 2, steps=10)
        mouse.up()

    def fit(self) -> None:
        self.page.locator('.kc-tool[data-tool="fit"]').click()

    def auto_layout(self) -> None:
        before = self.node_positions()
        self.page.locator('.kc-tool[data-tool="layout"]').click()
        wait_until(lambda: self.node_positions() != before)

    def node_positions(self) -> dict:
        return dict(
            self.page.eval_on_selector_all(
                ".kc-node", "els => els.map(e => [e.dataset.id, e.style.transform])"
            )
        )

    # -- Saving ---------------------------------------------------------------

    def wait_saved(self) -> Workflow:
        """Wait for the indicator to say saved; return the stored workflow."""
        expect(self.save_state).to_have_text("All changes saved", timeout=10_000)
        self.workflow.refresh_from_db()
        return self.workflow
