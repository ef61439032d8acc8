// The thin seam between the Rust client and Cytoscape.js (a global from the vendored
// cytoscape-<version>.min.js). Rust calls these through wasm-bindgen; they hold no state of
// their own beyond the Cytoscape instance. Layout rules:
// - the first drawing lays out everything (force-directed when small, concentric when large:
//   Cytoscape's force layout does not fit the 2 s budget at 2,000 nodes on the main thread);
// - later changes never move what did not change: new nodes are placed beside a neighbour.

const FORCE_LAYOUT_MAX_NODES = 300;

const STYLE = [
  { selector: "node", style: {
      "background-color": "#4f7cac", "label": "data(label)", "font-size": 9, "color": "#555",
      "text-valign": "bottom", "text-margin-y": 3, "width": 14, "height": 14,
      "text-max-width": 120, "text-wrap": "ellipsis", "min-zoomed-font-size": 7 } },
  { selector: "edge", style: {
      "width": "mapData(weight, 1, 5, 1, 4)", "line-color": "#9aa9b8", "opacity": 0.6,
      "curve-style": "haystack" } },
  { selector: "node:selected", style: { "background-color": "#e07a1f", "width": 20, "height": 20 } },
  { selector: ".match", style: { "background-color": "#d62f6a", "width": 20, "height": 20 } },
  { selector: ".faded", style: { "opacity": 0.12 } },
  { selector: ".hidden", style: { "display": "none" } },
];

export function createGraph(container, elements, dark, onSelect) {
  const cy = window.cytoscape({
    container,
    elements,
    style: STYLE,
    minZoom: 0.05,
    maxZoom: 4,
    textureOnViewport: true,
    hideEdgesOnViewport: true,
    pixelRatio: 1,
  });
  applyTheme(cy, dark);
  const nodes = cy.nodes().length;
  const layout = nodes <= FORCE_LAYOUT_MAX_NODES
    ? { name: "cose", animate: false, randomize: true, nodeRepulsion: 8000, idealEdgeLength: 60 }
    : { name: "concentric", animate: false, minNodeSpacing: 4,
        concentric: (n) => n.degree(), levelWidth: () => 2 };
  cy.layout(layout).run();
  capZoom(cy);
  cy.on("tap", "node", (event) => onSelect(event.target.id()));
  cy.on("tap", (event) => { if (event.target === cy) onSelect(""); });
  return cy;
}

// A graph of a few memories would otherwise be fitted at a zoom that makes labels huge.
const COMFORTABLE_ZOOM = 1.2;
function capZoom(cy) {
  if (cy.zoom() > COMFORTABLE_ZOOM) { cy.zoom(COMFORTABLE_ZOOM); cy.center(); }
}

export function applyTheme(cy, dark) {
  cy.style().selector("node").style("color", dark ? "#ccd" : "#444").update();
}

// Brings the graph to `elements` (the server's current state): removes what is gone, adds what
// is new beside a neighbour, updates labels and weights; returns how many elements changed.
export function updateGraph(cy, elements) {
  const wanted = new Map(elements.map((e) => [e.data.id, e]));
  let changed = 0;
  cy.batch(() => {
    cy.elements().forEach((element) => {
      if (!wanted.has(element.id())) { element.remove(); changed += 1; }
    });
    const added = [];
    for (const element of elements) {
      const existing = cy.getElementById(element.data.id);
      if (existing.nonempty()) {
        if (element.data.label !== undefined && existing.data("label") !== element.data.label) {
          existing.data("label", element.data.label); changed += 1;
        }
        if (element.data.weight !== undefined && existing.data("weight") !== element.data.weight) {
          existing.data("weight", element.data.weight); changed += 1;
        }
        continue;
      }
      if (element.data.source) continue;
      added.push(cy.add({ group: "nodes", data: element.data }));
      changed += 1;
    }
    for (const element of elements) {
      if (!element.data.source || cy.getElementById(element.data.id).nonempty()) continue;
      // Cytoscape throws on a link to a node it does not have; the client never sends one.
      if (cy.getElementById(element.data.source).empty() || cy.getElementById(element.data.target).empty()) continue;
      cy.add({ group: "edges", data: element.data });
      changed += 1;
    }
    // A new node goes beside a neighbour that was already placed, or, with none, into a column
    // to the right of everything, so it never lands on another node.
    const placed = cy.nodes().filter((n) => !added.includes(n));
    const box = placed.nonempty() ? placed.boundingBox() : { x2: 0, y1: 0 };
    let loose = 0;
    for (const node of added) {
      const neighbour = node.neighborhood("node").filter((n) => !added.includes(n)).first();
      if (neighbour.nonempty()) {
        const angle = Math.random() * 2 * Math.PI;
        const at = neighbour.position();
        node.position({ x: at.x + 60 * Math.cos(angle), y: at.y + 60 * Math.sin(angle) });
      } else {
        node.position({ x: box.x2 + 80, y: box.y1 + 50 * loose });
        loose += 1;
      }
    }
  });
  return changed;
}

export function selectNode(cy, id) {
  cy.nodes().unselect();
  if (!id) return;
  const node = cy.getElementById(id);
  if (node.nonempty()) { node.select(); cy.animate({ center: { eles: node } }, { duration: 200 }); }
}

// Highlights nodes whose label contains `query` (case-insensitive); centres on the first.
export function highlight(cy, query) {
  const text = query.trim().toLowerCase();
  cy.nodes().removeClass("match");
  if (!text) return 0;
  const matches = cy.nodes().filter((n) => (n.data("label") || "").toLowerCase().includes(text));
  matches.addClass("match");
  if (matches.nonempty()) cy.animate({ center: { eles: matches.first() } }, { duration: 200 });
  return matches.length;
}

// Shows only the nodes within `hops` links of `id` (0: everything).
export function filterHops(cy, id, hops) {
  cy.elements().removeClass("hidden");
  if (!id || hops <= 0) return;
  let kept = cy.getElementById(id);
  if (kept.empty()) return;
  for (let i = 0; i < hops; i += 1) kept = kept.union(kept.neighborhood());
  cy.elements().not(kept).addClass("hidden");
}

export function fit(cy) { cy.fit(undefined, 20); capZoom(cy); }
export function zoomBy(cy, factor) {
  cy.zoom({ level: cy.zoom() * factor, renderedPosition: { x: cy.width() / 2, y: cy.height() / 2 } });
}
export function panBy(cy, dx, dy) { cy.panBy({ x: dx, y: dy }); }
export function destroyGraph(cy) { cy.destroy(); }
