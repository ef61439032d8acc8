// The graph's force-directed layout, in a worker so the page never waits for it: ForceAtlas2
// (Jacomy et al., 2014, as graphology-layout-forceatlas2 runs it: linear attraction, strong
// gravity, per-node speed from swing and traction) with Barnes-Hut repulsion over a quadtree.
//
// In:  { x, y: Float32Array (start positions), fixed: Uint8Array (1 = keep in place),
//        ends: Uint32Array (edge i joins ends[2i] and ends[2i+1]) }
// Out: { x, y, done } a few times a second while it runs, and once with done: true.

const THETA = 1.2;
const GRAVITY = 0.05;
const SCALING = 10;
const MAX_ITERATIONS = 1000;
const MAX_MILLISECONDS = 60000;
const REPORT_EVERY_MS = 250;
// Settled: the mean move per iteration stays under this share of the mean edge length.
const SETTLED_SHARE = 0.002;
const SETTLED_ITERATIONS = 20;

self.onmessage = (event) => {
  const { x, y, fixed, ends } = event.data;
  layout(x, y, fixed, ends);
};

function layout(x, y, fixed, ends) {
  const n = x.length;
  const mass = new Float32Array(n).fill(1);
  for (let i = 0; i < ends.length; i++) mass[ends[i]] += 1;
  const dx = new Float32Array(n), dy = new Float32Array(n);
  const oldDx = new Float32Array(n), oldDy = new Float32Array(n);
  const convergence = new Float32Array(n).fill(1);
  const slowDown = 1 + Math.log(Math.max(1, n));
  const tree = new QuadTree(n);
  const started = performance.now();
  let reported = started;
  let calm = 0;
  for (let iteration = 0; iteration < MAX_ITERATIONS; iteration++) {
    oldDx.set(dx); oldDy.set(dy); dx.fill(0); dy.fill(0);
    tree.build(x, y, mass);
    for (let i = 0; i < n; i++) tree.repel(i, x, y, mass, dx, dy);
    for (let i = 0; i < n; i++) {
      const factor = SCALING * mass[i] * GRAVITY;
      dx[i] -= x[i] * factor; dy[i] -= y[i] * factor;
    }
    let edgeLength = 0;
    for (let e = 0; e < ends.length; e += 2) {
      const a = ends[e], b = ends[e + 1];
      const xd = x[a] - x[b], yd = y[a] - y[b];
      edgeLength += Math.sqrt(xd * xd + yd * yd);
      dx[a] -= xd; dy[a] -= yd; dx[b] += xd; dy[b] += yd;
    }
    let moved = 0;
    for (let i = 0; i < n; i++) {
      if (fixed[i]) continue;
      const swinging = mass[i] * Math.sqrt((oldDx[i] - dx[i]) ** 2 + (oldDy[i] - dy[i]) ** 2);
      const traction = Math.sqrt((oldDx[i] + dx[i]) ** 2 + (oldDy[i] + dy[i]) ** 2) / 2;
      const speed = (convergence[i] * Math.log(1 + traction)) / (1 + Math.sqrt(swinging));
      convergence[i] = Math.min(1, Math.sqrt((speed * (dx[i] ** 2 + dy[i] ** 2)) / (1 + Math.sqrt(swinging))));
      const stepX = dx[i] * (speed / slowDown), stepY = dy[i] * (speed / slowDown);
      x[i] += stepX; y[i] += stepY;
      moved += Math.sqrt(stepX * stepX + stepY * stepY);
    }
    const meanEdge = ends.length ? edgeLength / (ends.length / 2) : 1;
    calm = moved / n < SETTLED_SHARE * meanEdge ? calm + 1 : 0;
    const now = performance.now();
    const done = calm >= SETTLED_ITERATIONS || iteration === MAX_ITERATIONS - 1 || now - started > MAX_MILLISECONDS;
    if (done || now - reported >= REPORT_EVERY_MS) {
      reported = now;
      self.postMessage({ x: x.slice(), y: y.slice(), done, iterations: iteration + 1 });
    }
    if (done) return;
  }
}

// A Barnes-Hut quadtree in flat arrays: each region holds its nodes' total mass and centre;
// a leaf holds one node (or several at one point).
class QuadTree {
  constructor(n) {
    const capacity = 8 * n + 16;
    this.cx = new Float64Array(capacity); this.cy = new Float64Array(capacity);
    this.mass = new Float64Array(capacity); this.size = new Float64Array(capacity);
    this.left = new Float64Array(capacity); this.top = new Float64Array(capacity);
    this.child = new Int32Array(capacity); this.node = new Int32Array(capacity);
    this.stack = new Int32Array(capacity);
    this.count = 0;
  }

  region(left, top, size) {
    if (this.count + 1 > this.cx.length) this.enlarge();
    const r = this.count++;
    this.left[r] = left; this.top[r] = top; this.size[r] = size;
    this.cx[r] = 0; this.cy[r] = 0; this.mass[r] = 0; this.child[r] = -1; this.node[r] = -1;
    return r;
  }

  enlarge() {
    for (const name of ["cx", "cy", "mass", "size", "left", "top", "child", "node", "stack"]) {
      const bigger = new this[name].constructor(this[name].length * 2);
      bigger.set(this[name]);
      this[name] = bigger;
    }
  }

  build(x, y, mass) {
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    for (let i = 0; i < x.length; i++) {
      if (x[i] < x0) x0 = x[i]; if (x[i] > x1) x1 = x[i]; if (y[i] < y0) y0 = y[i]; if (y[i] > y1) y1 = y[i];
    }
    this.count = 0;
    const size = Math.max(x1 - x0, y1 - y0, 1e-6) * 1.0001;
    this.region(x0, y0, size);
    for (let i = 0; i < x.length; i++) this.insert(i, x[i], y[i], mass[i]);
  }

  insert(i, px, py, m) {
    let r = 0;
    for (;;) {
      const total = this.mass[r] + m;
      if (this.child[r] >= 0) {
        this.cx[r] = (this.cx[r] * this.mass[r] + px * m) / total;
        this.cy[r] = (this.cy[r] * this.mass[r] + py * m) / total;
        this.mass[r] = total;
        r = this.child[r] + this.quadrant(r, px, py);
        continue;
      }
      if (this.node[r] < 0 && this.mass[r] === 0) {
        this.node[r] = i; this.cx[r] = px; this.cy[r] = py; this.mass[r] = m;
        return;
      }
      // A leaf already holding a node: split it, unless the two are (nearly) at one point.
      if (this.size[r] < 1e-3) {
        this.cx[r] = (this.cx[r] * this.mass[r] + px * m) / total;
        this.cy[r] = (this.cy[r] * this.mass[r] + py * m) / total;
        this.mass[r] = total;
        return;
      }
      const half = this.size[r] / 2;
      const first = this.region(this.left[r], this.top[r], half);
      this.region(this.left[r] + half, this.top[r], half);
      this.region(this.left[r], this.top[r] + half, half);
      this.region(this.left[r] + half, this.top[r] + half, half);
      const j = this.node[r];
      this.node[r] = -1;
      this.child[r] = first;
      const q = first + this.quadrant(r, this.cx[r], this.cy[r]);
      this.node[q] = j; this.cx[q] = this.cx[r]; this.cy[q] = this.cy[r]; this.mass[q] = this.mass[r];
      // r is now a region whose totals already count j; the loop adds i.
    }
  }

  quadrant(r, px, py) {
    const half = this.size[r] / 2;
    return (px >= this.left[r] + half ? 1 : 0) + (py >= this.top[r] + half ? 2 : 0);
  }

  repel(i, x, y, mass, dx, dy) {
    const stack = this.stack;
    let top = 0;
    stack[top++] = 0;
    const px = x[i], py = y[i], m = mass[i];
    while (top > 0) {
      const r = stack[--top];
      if (this.mass[r] === 0 || this.node[r] === i) continue;
      const xd = px - this.cx[r], yd = py - this.cy[r];
      const d2 = xd * xd + yd * yd;
      if (this.child[r] < 0 || this.size[r] * this.size[r] < THETA * THETA * d2) {
        if (d2 > 0) {
          const factor = (SCALING * m * this.mass[r]) / d2;
          dx[i] += xd * factor; dy[i] += yd * factor;
        }
        continue;
      }
      const first = this.child[r];
      stack[top++] = first; stack[top++] = first + 1; stack[top++] = first + 2; stack[top++] = first + 3;
    }
  }
}
