// The graph view: Brain2's own renderer, drawn on a 2D canvas. Rust (graph.rs) calls these
// functions through wasm-bindgen; the graph lives here as flat arrays indexed by node slot.
//
// Why a renderer of our own: measured in headless Chromium on 2 cores (BENCHMARKS.md, "The graph
// at 10,000 memories"), Cytoscape.js's canvas renderer took 131-140 ms per pan frame at 2,000
// memories and 10,000 links, and its force layout 27.7 s on the page's thread; a canvas that
// draws only what shows, within a budget, and lays out in a worker does not have those costs.
//
// Level of detail, so a frame costs about the same at any size:
// - edges: only those on screen and longer than a pixel; past the frame's edge budget, the
//   strongest first and an even sample of the rest. The budget adapts to how long frames take
//   (smaller while the view moves, larger once it rests);
// - labels: only where one fits without covering another, the best connected first;
// - nodes: small squares when small, discs when large enough to see the difference.
// Layout: positions are kept per user in localStorage, so reopening lays out nothing; a new
// node goes beside its neighbours and moves nothing else; only a graph with many unplaced nodes
// is laid out, in a worker (layout-worker.js), never on the page's thread.

const NODE_COLOR = "#4f7cac";
const SELECTED_COLOR = "#e07a1f";
const MATCH_COLOR = "#d62f6a";
const LIGHT = { edge: "rgb(190,199,208)", strong: "rgb(150,163,177)", label: "#444", halo: "rgba(255,255,255,0.8)" };
const DARK = { edge: "rgb(68,76,86)", strong: "rgb(98,110,124)", label: "#ccd", halo: "rgba(31,34,38,0.8)" };

const HIDDEN = 1;
const MATCH = 2;
const SELECTED = 4;

const MIN_ZOOM = 0.01;
const MAX_ZOOM = 8;
// A graph of a few memories would otherwise be fitted at a zoom that makes everything huge.
const COMFORTABLE_ZOOM = 1.2;
// World units between neighbours, as the layout spaces them.
const SPACING = 40;
// Frames end a move this long after the last camera change; then one full-detail frame.
const REST_AFTER_MS = 160;
// The edge budget (edges a moving frame draws at most) adapts to the frames it gives: slower
// than this shrinks it, quicker than that lets it grow. A resting frame draws more.
const SLOW_FRAME_MS = 25;
const QUICK_FRAME_MS = 18;
const FIRST_EDGE_BUDGET = 6000;
const MIN_EDGE_BUDGET = 500;
const RESTING_BUDGET_FACTOR = 3;
// Laid out in the worker when more than this share of the nodes (and this many) have no
// position; fewer are placed beside their neighbours.
const LAYOUT_SHARE = 0.1;
const LAYOUT_MIN = 50;
const FONT = "11px system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";
const LABEL_MAX_WIDTH = 140;
const MAX_LABELS = 400;

function grow(array, size) {
  if (array.length >= size) return array;
  const bigger = new array.constructor(Math.max(size, array.length * 2, 64));
  bigger.set(array);
  return bigger;
}

class GraphView {
  constructor(container, options, onSelect) {
    this.container = container;
    this.onSelect = onSelect;
    this.storageKey = options.storageKey || "";
    this.workerUrl = options.workerUrl || "";
    this.theme = options.dark ? DARK : LIGHT;
    // Nodes, by slot; a removed node's slot is reused.
    this.ids = [];
    this.labels = [];
    this.lower = [];
    this.widths = [];
    this.x = new Float32Array(64);
    this.y = new Float32Array(64);
    this.flags = new Uint8Array(64);
    this.adjacent = [];
    this.slotOf = new Map();
    this.free = [];
    this.nodeCount = 0;
    // Edges, packed: removing one moves the last into its place.
    this.ea = new Int32Array(64);
    this.eb = new Int32Array(64);
    this.ew = new Uint8Array(64);
    this.edgeCount = 0;
    this.edgeAt = new Map();
    this.selected = -1;
    this.filtered = false;
    this.camera = { x: 0, y: 0, zoom: 1 };
    this.budget = FIRST_EDGE_BUDGET;
    this.moving = false;
    this.lastMove = 0;
    this.frame = 0;
    this.lastFrameAt = 0;
    this.pendingMarks = [];
    this.byDegree = null;
    this.layout = null;
    this.saveTimer = 0;
    // New nodes that had no placed neighbour yet.
    this.waiting = new Set();

    this.canvas = document.createElement("canvas");
    this.canvas.className = "graph-canvas";
    this.canvas.setAttribute("aria-hidden", "true");
    container.appendChild(this.canvas);
    this.context = this.canvas.getContext("2d", { alpha: true });
    this.resize();
    this.observer = new ResizeObserver(() => { this.resize(); this.request(); });
    this.observer.observe(container);
    this.listen();
  }

  // ---- the model ----

  addNode(id, label) {
    const slot = this.free.length ? this.free.pop() : this.ids.length;
    if (slot === this.ids.length) {
      this.ids.push(id); this.labels.push(label); this.lower.push(""); this.widths.push(-1); this.adjacent.push(null);
      this.x = grow(this.x, slot + 1); this.y = grow(this.y, slot + 1); this.flags = grow(this.flags, slot + 1);
    } else {
      this.ids[slot] = id; this.labels[slot] = label; this.widths[slot] = -1;
    }
    this.lower[slot] = label.toLowerCase();
    this.adjacent[slot] = new Set();
    this.flags[slot] = 0;
    this.x[slot] = NaN; this.y[slot] = NaN;
    this.slotOf.set(id, slot);
    this.nodeCount += 1;
    this.byDegree = null;
    return slot;
  }

  relabel(slot, label) {
    if (this.labels[slot] === label) return false;
    this.labels[slot] = label; this.lower[slot] = label.toLowerCase(); this.widths[slot] = -1;
    return true;
  }

  removeNode(slot) {
    for (const other of this.adjacent[slot]) this.removeEdge(slot, other);
    this.slotOf.delete(this.ids[slot]);
    this.ids[slot] = null; this.labels[slot] = ""; this.lower[slot] = ""; this.adjacent[slot] = null;
    this.flags[slot] = 0;
    if (this.selected === slot) this.selected = -1;
    this.free.push(slot);
    this.nodeCount -= 1;
    this.byDegree = null;
  }

  static pair(a, b) { return a < b ? a * 4194304 + b : b * 4194304 + a; }

  setEdge(a, b, weight) {
    if (a === b) return false;
    const key = GraphView.pair(a, b);
    const at = this.edgeAt.get(key);
    if (at !== undefined) {
      if (this.ew[at] === weight) return false;
      this.ew[at] = weight;
      return true;
    }
    const e = this.edgeCount;
    this.ea = grow(this.ea, e + 1); this.eb = grow(this.eb, e + 1); this.ew = grow(this.ew, e + 1);
    this.ea[e] = a; this.eb[e] = b; this.ew[e] = Math.min(255, weight);
    this.edgeAt.set(key, e);
    this.edgeCount += 1;
    this.adjacent[a].add(b); this.adjacent[b].add(a);
    this.byDegree = null;
    return true;
  }

  removeEdge(a, b) {
    const key = GraphView.pair(a, b);
    const e = this.edgeAt.get(key);
    if (e === undefined) return false;
    this.edgeAt.delete(key);
    const last = this.edgeCount - 1;
    if (e !== last) {
      this.ea[e] = this.ea[last]; this.eb[e] = this.eb[last]; this.ew[e] = this.ew[last];
      this.edgeAt.set(GraphView.pair(this.ea[e], this.eb[e]), e);
    }
    this.edgeCount = last;
    this.adjacent[a].delete(b); this.adjacent[b].delete(a);
    this.byDegree = null;
    return true;
  }

  // Replaces the whole graph; nodes keep their positions (on screen, or as stored).
  load(ids, labels, ends, weights) {
    const kept = new Map();
    for (let slot = 0; slot < this.ids.length; slot++) {
      if (this.ids[slot] !== null && !Number.isNaN(this.x[slot])) kept.set(this.ids[slot], [this.x[slot], this.y[slot]]);
    }
    const stored = kept.size ? null : this.readPositions();
    const selectedId = this.selected >= 0 ? this.ids[this.selected] : null;
    this.ids = []; this.labels = []; this.lower = []; this.widths = []; this.adjacent = [];
    this.slotOf = new Map(); this.free = []; this.nodeCount = 0; this.waiting = new Set();
    this.edgeCount = 0; this.edgeAt = new Map();
    this.x = new Float32Array(Math.max(64, ids.length)); this.y = new Float32Array(Math.max(64, ids.length));
    this.flags = new Uint8Array(Math.max(64, ids.length));
    for (let i = 0; i < ids.length; i++) {
      const slot = this.addNode(ids[i], labels[i]);
      const at = kept.get(ids[i]) || (stored && stored.get(ids[i]));
      if (at) { this.x[slot] = at[0]; this.y[slot] = at[1]; }
    }
    for (let e = 0; e < weights.length; e++) this.setEdge(ends[2 * e], ends[2 * e + 1], weights[e]);
    this.selected = selectedId !== null && this.slotOf.has(selectedId) ? this.slotOf.get(selectedId) : -1;
    if (this.selected >= 0) this.flags[this.selected] |= SELECTED;
    const placedBefore = kept.size + (stored ? stored.size : 0);
    this.placeNew(placedBefore === 0);
  }

  // Gives every node without a position one. Few: beside their placed neighbours, nothing else
  // moves. Many (a first visit): a quick spiral in breadth-first order, then the worker's layout.
  placeNew(fresh) {
    const unplaced = [];
    for (let slot = 0; slot < this.ids.length; slot++) {
      if (this.ids[slot] !== null && Number.isNaN(this.x[slot])) unplaced.push(slot);
    }
    if (!unplaced.length) return;
    const many = unplaced.length > LAYOUT_MIN && unplaced.length > LAYOUT_SHARE * this.nodeCount;
    if (many) {
      this.spiral(unplaced);
      this.startLayout(fresh ? null : new Set(unplaced));
    } else {
      for (const slot of unplaced) this.besideNeighbours(slot);
      this.scheduleSave();
    }
  }

  // Places `slot` beside its placed neighbours and returns true; with none, puts it just outside
  // everything (so it covers nothing) unless `onlyBeside`, and returns false.
  besideNeighbours(slot, onlyBeside) {
    let sx = 0, sy = 0, count = 0;
    for (const other of this.adjacent[slot]) {
      if (!Number.isNaN(this.x[other]) && !this.waiting.has(other)) { sx += this.x[other]; sy += this.y[other]; count += 1; }
    }
    const angle = Math.random() * 2 * Math.PI;
    const spacing = this.spacing();
    if (count) {
      const distance = spacing * (count === 1 ? 1 : 0.5);
      this.x[slot] = sx / count + distance * Math.cos(angle);
      this.y[slot] = sy / count + distance * Math.sin(angle);
      return true;
    }
    if (onlyBeside) return false;
    const x = this.x[slot];
    this.x[slot] = NaN;
    const box = this.bounds(false);
    this.x[slot] = x;
    if (!box) { this.x[slot] = 0; this.y[slot] = 0; return false; }
    const radius = Math.max(box.x1 - box.x0, box.y1 - box.y0) / 2 + spacing * 2;
    this.x[slot] = (box.x0 + box.x1) / 2 + radius * Math.cos(angle);
    this.y[slot] = (box.y0 + box.y1) / 2 + radius * Math.sin(angle);
    return false;
  }

  // The typical distance between linked nodes as laid out: the median of up to 501 edges.
  spacing() {
    const lengths = [];
    const step = Math.max(1, Math.floor(this.edgeCount / 500));
    for (let e = 0; e < this.edgeCount; e += step) {
      const a = this.ea[e], b = this.eb[e];
      const length = Math.hypot(this.x[a] - this.x[b], this.y[a] - this.y[b]);
      if (Number.isFinite(length) && length > 0) lengths.push(length);
    }
    if (!lengths.length) return SPACING;
    lengths.sort((a, b) => a - b);
    return lengths[lengths.length >> 1];
  }

  // Places `slots` on a sunflower spiral in breadth-first order from the best connected node, so
  // neighbours start near each other and the layout has less to do.
  spiral(slots) {
    const wanted = new Set(slots);
    const order = [];
    const seen = new Set();
    const sorted = slots.slice().sort((a, b) => this.adjacent[b].size - this.adjacent[a].size);
    for (const start of sorted) {
      if (seen.has(start)) continue;
      seen.add(start);
      const queue = [start];
      for (let head = 0; head < queue.length; head++) {
        const slot = queue[head];
        order.push(slot);
        for (const other of this.adjacent[slot]) {
          if (wanted.has(other) && !seen.has(other)) { seen.add(other); queue.push(other); }
        }
      }
    }
    const golden = Math.PI * (3 - Math.sqrt(5));
    const box = this.bounds(false);
    const cx = box ? (box.x0 + box.x1) / 2 : 0, cy = box ? (box.y0 + box.y1) / 2 : 0;
    const inner = box ? Math.max(box.x1 - box.x0, box.y1 - box.y0) / 2 : 0;
    order.forEach((slot, i) => {
      const r = inner + SPACING * 0.6 * Math.sqrt(i + 1);
      this.x[slot] = cx + r * Math.cos(i * golden);
      this.y[slot] = cy + r * Math.sin(i * golden);
    });
  }

  // ---- live changes ----

  // Applies changes in order: ["node", id, label], ["drop", id], ["edge", a, b, weight],
  // ["cut", a, b]. Returns how many changed something.
  apply(changes) {
    let changed = 0;
    const added = [];
    for (const change of changes) {
      const [kind, a, b, weight] = change;
      if (kind === "node") {
        const slot = this.slotOf.get(a);
        if (slot === undefined) { added.push(this.addNode(a, b)); changed += 1; }
        else if (this.relabel(slot, b)) changed += 1;
      } else if (kind === "drop") {
        const slot = this.slotOf.get(a);
        if (slot !== undefined) { this.removeNode(slot); changed += 1; }
      } else {
        const sa = this.slotOf.get(a), sb = this.slotOf.get(b);
        if (sa === undefined || sb === undefined) continue;
        if (kind === "edge" ? this.setEdge(sa, sb, weight) : this.removeEdge(sa, sb)) changed += 1;
      }
    }
    // A new node goes beside its placed neighbours. Its links usually come in a later message
    // (connect-node computes them after the node is stored): until then it waits just outside
    // the drawing, and moves beside them when they come, once. Nothing else moves.
    for (const slot of added) {
      if (this.ids[slot] === null) continue;
      if (!this.besideNeighbours(slot)) this.waiting.add(slot);
    }
    for (const slot of this.waiting) {
      if (this.ids[slot] === null) this.waiting.delete(slot);
      else if (!added.includes(slot) && this.besideNeighbours(slot, true)) this.waiting.delete(slot);
    }
    if (added.length) this.scheduleSave();
    if (this.filtered && changed) this.refilter();
    if (changed) { this.request(); this.pendingMarks.push("brain2:graph-drawn"); }
    return changed;
  }

  // ---- positions kept per user ----

  readPositions() {
    if (!this.storageKey) return null;
    try {
      const text = window.localStorage.getItem(this.storageKey);
      if (!text) return null;
      const positions = new Map();
      for (const entry of text.split(";")) {
        const [id, x, y] = entry.split(",");
        if (id && x !== undefined) positions.set(id, [Number(x), Number(y)]);
      }
      return positions;
    } catch (_) {
      return null;
    }
  }

  scheduleSave() {
    if (!this.storageKey || this.saveTimer) return;
    this.saveTimer = setTimeout(() => { this.saveTimer = 0; this.savePositions(); }, 2000);
  }

  // As "id,x,y;…" with whole units: 10,000 nodes take about 500 KB of the origin's 5 MB.
  savePositions() {
    if (!this.storageKey || this.layout) return;
    const parts = [];
    for (let slot = 0; slot < this.ids.length; slot++) {
      if (this.ids[slot] !== null && !Number.isNaN(this.x[slot])) {
        parts.push(`${this.ids[slot]},${Math.round(this.x[slot])},${Math.round(this.y[slot])}`);
      }
    }
    try {
      window.localStorage.setItem(this.storageKey, parts.join(";"));
    } catch (_) {
      // Storage full or refused: the layout is simply not kept, and runs again next time.
    }
  }

  // ---- the layout worker ----

  startLayout(movable) {
    this.stopLayout();
    if (!this.workerUrl || typeof Worker === "undefined") return;
    const slots = [];
    for (let slot = 0; slot < this.ids.length; slot++) if (this.ids[slot] !== null) slots.push(slot);
    const index = new Map(slots.map((slot, i) => [slot, i]));
    const x = new Float32Array(slots.length), y = new Float32Array(slots.length);
    const fixed = new Uint8Array(slots.length);
    slots.forEach((slot, i) => { x[i] = this.x[slot]; y[i] = this.y[slot]; fixed[i] = movable && !movable.has(slot) ? 1 : 0; });
    const ends = new Uint32Array(this.edgeCount * 2);
    for (let e = 0; e < this.edgeCount; e++) { ends[2 * e] = index.get(this.ea[e]); ends[2 * e + 1] = index.get(this.eb[e]); }
    const ids = slots.map((slot) => this.ids[slot]);
    const worker = new Worker(this.workerUrl);
    this.layout = { worker, ids };
    worker.onmessage = (event) => {
      const { x: nx, y: ny, done } = event.data;
      if (!this.layout || this.layout.worker !== worker) return;
      for (let i = 0; i < ids.length; i++) {
        const slot = this.slotOf.get(ids[i]);
        if (slot !== undefined) { this.x[slot] = nx[i]; this.y[slot] = ny[i]; }
      }
      if (!this.userMoved) this.fit(false);
      this.request();
      if (done) {
        this.stopLayout();
        this.savePositions();
        this.container.dataset.layout = "done";
      }
    };
    this.container.dataset.layout = "running";
    worker.postMessage({ x, y, fixed, ends }, [x.buffer, y.buffer, fixed.buffer, ends.buffer]);
  }

  stopLayout() {
    if (this.layout) { this.layout.worker.terminate(); this.layout = null; }
  }

  // ---- the camera ----

  resize() {
    const box = this.container.getBoundingClientRect();
    this.width = Math.max(1, Math.round(box.width));
    this.height = Math.max(1, Math.round(box.height));
    this.ratio = Math.min(2, window.devicePixelRatio || 1);
    this.canvas.width = Math.round(this.width * this.ratio);
    this.canvas.height = Math.round(this.height * this.ratio);
    this.canvas.style.width = `${this.width}px`;
    this.canvas.style.height = `${this.height}px`;
  }

  bounds(visibleOnly) {
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    for (let slot = 0; slot < this.ids.length; slot++) {
      if (this.ids[slot] === null || Number.isNaN(this.x[slot])) continue;
      if (visibleOnly && (this.flags[slot] & HIDDEN)) continue;
      const x = this.x[slot], y = this.y[slot];
      if (x < x0) x0 = x; if (x > x1) x1 = x; if (y < y0) y0 = y; if (y > y1) y1 = y;
    }
    return x0 === Infinity ? null : { x0, y0, x1, y1 };
  }

  fit(byUser) {
    if (byUser) this.userMoved = false;
    const box = this.bounds(true);
    if (!box) return;
    const pad = 20;
    const zoom = Math.min((this.width - 2 * pad) / Math.max(1, box.x1 - box.x0), (this.height - 2 * pad) / Math.max(1, box.y1 - box.y0));
    this.camera = { x: (box.x0 + box.x1) / 2, y: (box.y0 + box.y1) / 2, zoom: Math.max(MIN_ZOOM, Math.min(COMFORTABLE_ZOOM, zoom)) };
    this.moved();
  }

  zoomAt(factor, sx, sy) {
    const c = this.camera;
    const zoom = Math.max(MIN_ZOOM, Math.min(MAX_ZOOM, c.zoom * factor));
    const wx = c.x + (sx - this.width / 2) / c.zoom, wy = c.y + (sy - this.height / 2) / c.zoom;
    c.x = wx - (sx - this.width / 2) / zoom; c.y = wy - (sy - this.height / 2) / zoom; c.zoom = zoom;
    this.userMoved = true;
    this.moved();
  }

  panBy(dx, dy) {
    this.camera.x -= dx / this.camera.zoom; this.camera.y -= dy / this.camera.zoom;
    this.userMoved = true;
    this.moved();
  }

  centreOn(slot) {
    const from = { ...this.camera }, to = { x: this.x[slot], y: this.y[slot] };
    const started = performance.now();
    const step = () => {
      const t = Math.min(1, (performance.now() - started) / 200);
      const ease = t * (2 - t);
      this.camera.x = from.x + (to.x - from.x) * ease; this.camera.y = from.y + (to.y - from.y) * ease;
      this.moved();
      if (t < 1) this.tween = requestAnimationFrame(step);
    };
    cancelAnimationFrame(this.tween);
    this.tween = requestAnimationFrame(step);
  }

  moved() {
    this.moving = true;
    this.lastMove = performance.now();
    this.request();
  }

  // ---- drawing ----

  request() {
    if (this.frame || this.destroyed) return;
    this.frame = requestAnimationFrame((now) => { this.frame = 0; this.draw(now); });
  }

  draw(now) {
    const interval = now - this.lastFrameAt;
    this.lastFrameAt = now;
    const resting = !this.moving || now - this.lastMove >= REST_AFTER_MS;
    // The edge budget follows the frames of a move: one that took longer than a frame and a
    // half at 60 Hz cuts it by a quarter; a run of quick ones lets it grow a little at a time.
    if (!resting && this.wasMoving && interval < 250) {
      if (interval > SLOW_FRAME_MS) this.budget = Math.max(MIN_EDGE_BUDGET, Math.round(this.budget * 0.75));
      else if (interval < QUICK_FRAME_MS && this.drewEdges >= this.budget * 0.9) this.budget = Math.round(this.budget * 1.05 + 100);
    }
    this.wasMoving = !resting;
    if (resting) this.moving = false;

    const g = this.context, c = this.camera, w = this.width, h = this.height;
    g.setTransform(this.ratio, 0, 0, this.ratio, 0, 0);
    g.clearRect(0, 0, w, h);
    const z = c.zoom, ox = w / 2 - c.x * z, oy = h / 2 - c.y * z;
    const x0 = -ox / z, x1 = (w - ox) / z, y0 = -oy / z, y1 = (h - oy) / z;
    this.drewEdges = this.drawEdges(g, z, ox, oy, x0, x1, y0, y1, resting ? this.budget * RESTING_BUDGET_FACTOR : this.budget);
    this.drawNodes(g, z, ox, oy, x0, x1, y0, y1);
    this.drawLabels(g, z, ox, oy, resting);
    if (!resting) {
      // One more frame after the move settles, in full detail.
      setTimeout(() => this.request(), REST_AFTER_MS);
    }
    for (const name of this.pendingMarks.splice(0)) performance.mark(name);
    this.container.dataset.drawn = String(this.drewEdges);
  }

  drawEdges(g, z, ox, oy, x0, x1, y0, y1, budget) {
    const count = this.edgeCount;
    if (!count) return 0;
    this.visible = grow(this.visible || new Int32Array(64), count);
    const visible = this.visible;
    const levels = new Int32Array(9);
    let n = 0;
    const { ea, eb, ew, x, y, flags } = this;
    const filtered = this.filtered;
    const minLength = 1.5 / z;
    for (let e = 0; e < count; e++) {
      const a = ea[e], b = eb[e];
      if (filtered && ((flags[a] | flags[b]) & HIDDEN)) continue;
      const xa = x[a], xb = x[b], ya = y[a], yb = y[b];
      if ((xa < x0 && xb < x0) || (xa > x1 && xb > x1) || (ya < y0 && yb < y0) || (ya > y1 && yb > y1)) continue;
      if (Math.abs(xa - xb) + Math.abs(ya - yb) < minLength) continue;
      visible[n++] = e;
      levels[Math.min(8, ew[e])] += 1;
    }
    // The strongest levels whole; the level where the budget runs out, evenly sampled.
    let threshold = 0, stride = 1, room = budget;
    for (let level = 8; level >= 1; level--) {
      if (levels[level] <= room) { room -= levels[level]; threshold = level; continue; }
      threshold = level;
      stride = Math.ceil(levels[level] / Math.max(1, room));
      break;
    }
    let drawn = 0, seen = 0;
    g.lineWidth = 1;
    for (const [style, strong] of [[this.theme.edge, false], [this.theme.strong, true]]) {
      g.strokeStyle = style;
      g.beginPath();
      for (let i = 0; i < n; i++) {
        const e = visible[i];
        const level = Math.min(8, ew[e]);
        if (level < threshold || (level >= 2) !== strong) continue;
        if (level === threshold && stride > 1 && (seen++ % stride) !== 0) continue;
        const a = ea[e], b = eb[e];
        g.moveTo(x[a] * z + ox, y[a] * z + oy);
        g.lineTo(x[b] * z + ox, y[b] * z + oy);
        drawn += 1;
      }
      g.stroke();
    }
    return drawn;
  }

  nodeSize(z) {
    return Math.max(2.5, Math.min(14, 7 * Math.sqrt(z)));
  }

  drawNodes(g, z, ox, oy, x0, x1, y0, y1) {
    const size = this.nodeSize(z);
    const margin = size / z;
    const { x, y, flags, ids } = this;
    // Discs are costly paths on a canvas drawn by the CPU: large nodes are a plus of two
    // rectangles (an octagon to the eye), small ones a square.
    const round = size >= 5, s2 = size / 2, s3 = size * 0.3;
    const special = [];
    g.fillStyle = NODE_COLOR;
    for (let slot = 0; slot < ids.length; slot++) {
      if (ids[slot] === null) continue;
      const f = flags[slot];
      if (f & HIDDEN) continue;
      const wx = x[slot], wy = y[slot];
      if (wx < x0 - margin || wx > x1 + margin || wy < y0 - margin || wy > y1 + margin) continue;
      if (f & (MATCH | SELECTED)) { special.push(slot); continue; }
      const sx = wx * z + ox, sy = wy * z + oy;
      if (round) { g.fillRect(sx - s2, sy - s3, size, 2 * s3); g.fillRect(sx - s3, sy - s2, 2 * s3, size); }
      else g.fillRect(sx - s2, sy - s2, size, size);
    }
    const big = Math.max(size * 1.5, 8);
    for (const slot of special) {
      g.fillStyle = flags[slot] & SELECTED ? SELECTED_COLOR : MATCH_COLOR;
      g.beginPath();
      g.arc(x[slot] * z + ox, y[slot] * z + oy, big / 2, 0, 2 * Math.PI);
      g.fill();
    }
  }

  // Labels where they fit: best connected first (the selected and the matches before all),
  // none over another, only once nodes are drawn large enough to name.
  drawLabels(g, z, ox, oy, resting) {
    const size = this.nodeSize(z);
    const everyone = size >= 6;
    if (!this.byDegree) {
      this.byDegree = [];
      for (let slot = 0; slot < this.ids.length; slot++) if (this.ids[slot] !== null) this.byDegree.push(slot);
      this.byDegree.sort((a, b) => this.adjacent[b].size - this.adjacent[a].size);
    }
    const candidates = [];
    for (let slot = 0; slot < this.ids.length; slot++) {
      if (this.ids[slot] !== null && (this.flags[slot] & (MATCH | SELECTED)) && !(this.flags[slot] & HIDDEN)) candidates.push(slot);
    }
    g.font = FONT;
    g.textBaseline = "top";
    g.textAlign = "center";
    const cellW = 60, cellH = 16;
    const columns = Math.ceil(this.width / cellW) + 1;
    const taken = new Uint8Array(columns * (Math.ceil(this.height / cellH) + 1));
    let placed = 0;
    const limit = resting ? MAX_LABELS : MAX_LABELS / 4;
    const tryLabel = (slot) => {
      if (this.ids[slot] === null || (this.flags[slot] & HIDDEN)) return;
      const sx = this.x[slot] * z + ox, sy = this.y[slot] * z + oy + size / 2 + 2;
      if (sx < 0 || sx > this.width || sy < 0 || sy > this.height - 12) return;
      if (this.widths[slot] < 0) this.widths[slot] = Math.min(LABEL_MAX_WIDTH, g.measureText(this.labels[slot]).width);
      const width = this.widths[slot];
      const c0 = Math.max(0, Math.floor((sx - width / 2) / cellW)), c1 = Math.min(columns - 1, Math.floor((sx + width / 2) / cellW));
      const row = Math.floor(sy / cellH), rows = [row, row + 1];
      for (const r of rows) for (let col = c0; col <= c1; col++) if (taken[r * columns + col]) return;
      for (const r of rows) for (let col = c0; col <= c1; col++) taken[r * columns + col] = 1;
      const text = this.fitted(g, slot);
      g.fillStyle = this.theme.halo;
      g.fillRect(sx - width / 2 - 2, sy - 1, width + 4, 14);
      g.fillStyle = this.theme.label;
      g.fillText(text, sx, sy);
      placed += 1;
    };
    for (const slot of candidates) tryLabel(slot);
    if (!everyone) return;
    for (const slot of this.byDegree) {
      if (placed >= limit) break;
      if (this.flags[slot] & (MATCH | SELECTED)) continue;
      tryLabel(slot);
    }
  }

  fitted(g, slot) {
    const label = this.labels[slot];
    if (this.widths[slot] < LABEL_MAX_WIDTH) return label;
    let low = 0, high = label.length;
    while (high - low > 1) {
      const middle = (low + high) >> 1;
      if (g.measureText(label.slice(0, middle) + "…").width <= LABEL_MAX_WIDTH) low = middle; else high = middle;
    }
    return label.slice(0, low) + "…";
  }

  // ---- pointer and wheel ----

  listen() {
    const pointers = new Map();
    let pressed = null;
    const canvas = this.canvas;
    const local = (event) => {
      const box = canvas.getBoundingClientRect();
      return { x: event.clientX - box.left, y: event.clientY - box.top };
    };
    this.handlers = {
      pointerdown: (event) => {
        canvas.setPointerCapture?.(event.pointerId);
        pointers.set(event.pointerId, local(event));
        pressed = pointers.size === 1 ? { ...local(event), moved: false } : null;
      },
      pointermove: (event) => {
        const before = pointers.get(event.pointerId);
        if (!before) return;
        const now = local(event);
        if (pointers.size === 1) {
          this.panBy(now.x - before.x, now.y - before.y);
          if (pressed && Math.abs(now.x - pressed.x) + Math.abs(now.y - pressed.y) > 4) pressed.moved = true;
        } else if (pointers.size === 2) {
          const [other] = [...pointers.entries()].filter(([id]) => id !== event.pointerId).map(([, p]) => p);
          const was = Math.hypot(before.x - other.x, before.y - other.y), is = Math.hypot(now.x - other.x, now.y - other.y);
          if (was > 0) this.zoomAt(is / was, (now.x + other.x) / 2, (now.y + other.y) / 2);
        }
        pointers.set(event.pointerId, now);
      },
      pointerup: (event) => {
        pointers.delete(event.pointerId);
        if (pressed && !pressed.moved) {
          const at = local(event);
          const slot = this.nodeAt(at.x, at.y);
          this.onSelect(slot >= 0 ? this.ids[slot] : "");
        }
        pressed = null;
      },
      pointercancel: (event) => { pointers.delete(event.pointerId); pressed = null; },
      wheel: (event) => {
        event.preventDefault();
        const at = local(event);
        this.zoomAt(Math.exp(-event.deltaY * (event.deltaMode === 1 ? 0.05 : 0.002)), at.x, at.y);
      },
    };
    for (const [name, handler] of Object.entries(this.handlers)) {
      canvas.addEventListener(name, handler, name === "wheel" ? { passive: false } : undefined);
    }
  }

  nodeAt(sx, sy) {
    const c = this.camera, z = c.zoom;
    const wx = c.x + (sx - this.width / 2) / z, wy = c.y + (sy - this.height / 2) / z;
    const reach = Math.max(6, this.nodeSize(z)) / z;
    let best = -1, bestDistance = reach * reach;
    for (let slot = 0; slot < this.ids.length; slot++) {
      if (this.ids[slot] === null || (this.flags[slot] & HIDDEN)) continue;
      const dx = this.x[slot] - wx, dy = this.y[slot] - wy, d = dx * dx + dy * dy;
      if (d <= bestDistance) { best = slot; bestDistance = d; }
    }
    return best;
  }

  // ---- selection, search, filter ----

  select(id) {
    if (this.selected >= 0) this.flags[this.selected] &= ~SELECTED;
    this.selected = id && this.slotOf.has(id) ? this.slotOf.get(id) : -1;
    if (this.selected >= 0) {
      this.flags[this.selected] |= SELECTED;
      this.centreOn(this.selected);
    }
    this.request();
  }

  highlight(query) {
    const text = query.trim().toLowerCase();
    let first = -1, count = 0;
    for (let slot = 0; slot < this.ids.length; slot++) {
      if (this.ids[slot] === null) continue;
      const match = text !== "" && this.lower[slot].includes(text);
      this.flags[slot] = match ? this.flags[slot] | MATCH : this.flags[slot] & ~MATCH;
      if (match) { count += 1; if (first < 0) first = slot; }
    }
    if (first >= 0) this.centreOn(first);
    this.request();
    return count;
  }

  highlightIds(ids) {
    const wanted = new Set(ids);
    let first = -1, count = 0;
    for (let slot = 0; slot < this.ids.length; slot++) {
      if (this.ids[slot] === null) continue;
      const match = wanted.has(this.ids[slot]);
      this.flags[slot] = match ? this.flags[slot] | MATCH : this.flags[slot] & ~MATCH;
      if (match) count += 1;
    }
    // Centre on the best-ranked result that is drawn.
    for (const id of ids) if (this.slotOf.has(id)) { first = this.slotOf.get(id); break; }
    if (first >= 0) this.centreOn(first);
    this.request();
    return count;
  }

  filterHops(id, hops) {
    this.filter = { id, hops };
    this.refilter();
    this.request();
  }

  refilter() {
    const { id, hops } = this.filter || {};
    const start = id ? this.slotOf.get(id) : undefined;
    for (let slot = 0; slot < this.ids.length; slot++) this.flags[slot] &= ~HIDDEN;
    this.filtered = false;
    if (start === undefined || !hops) return 0;
    const kept = new Set([start]);
    let frontier = [start];
    for (let i = 0; i < hops; i++) {
      const next = [];
      for (const slot of frontier) for (const other of this.adjacent[slot]) if (!kept.has(other)) { kept.add(other); next.push(other); }
      frontier = next;
    }
    for (let slot = 0; slot < this.ids.length; slot++) if (this.ids[slot] !== null && !kept.has(slot)) this.flags[slot] |= HIDDEN;
    this.filtered = true;
    return kept.size;
  }

  destroy() {
    this.destroyed = true;
    this.stopLayout();
    if (this.saveTimer) { clearTimeout(this.saveTimer); this.saveTimer = 0; this.savePositions(); }
    cancelAnimationFrame(this.frame);
    cancelAnimationFrame(this.tween);
    this.observer.disconnect();
    for (const [name, handler] of Object.entries(this.handlers)) this.canvas.removeEventListener(name, handler);
    this.canvas.remove();
  }
}

// ---- what Rust calls ----

export function createGraph(container, ids, labels, ends, weights, dark, storageKey, workerUrl, onSelect) {
  const view = new GraphView(container, { dark, storageKey, workerUrl }, onSelect);
  view.load(ids, labels, ends, weights);
  view.fit(false);
  view.pendingMarks.push("brain2:graph-drawn");
  return view;
}

export function resetGraph(view, ids, labels, ends, weights) {
  view.load(ids, labels, ends, weights);
  if (view.filter) view.refilter();
  if (!view.userMoved) view.fit(false);
  view.pendingMarks.push("brain2:graph-drawn");
  view.request();
}

export function applyChanges(view, changes) { return view.apply(changes); }
export function applyTheme(view, dark) { view.theme = dark ? DARK : LIGHT; view.request(); }
export function selectNode(view, id) { view.select(id); }
export function highlight(view, query) { return view.highlight(query); }
export function highlightIds(view, ids) { return view.highlightIds(ids); }
export function filterHops(view, id, hops) { view.filterHops(id, hops); }
export function fit(view) { view.fit(true); }
export function zoomBy(view, factor) { view.zoomAt(factor, view.width / 2, view.height / 2); }
export function panBy(view, dx, dy) { view.panBy(dx, dy); }
export function destroyGraph(view) { view.destroy(); }
export function layoutWorkerUrl() {
  const meta = document.querySelector('meta[name="brain2-layout-worker"]');
  return meta ? meta.getAttribute("content") : "";
}
