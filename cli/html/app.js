/*
 * samplectl tree --html: the call tree page.
 *
 * The data (a <script type="application/json"> block written by
 * render_html.c) holds the whole tree as flat arrays: a string table,
 * frames [name, module, file, line, kind, flags] and nodes
 * [parent, frame, self, total] in preorder, node 0 being the invisible
 * root.  Nothing here builds a DOM node per tree node up front: the page
 * keeps typed arrays, and "display nodes" are made only when a row or a
 * flame-graph box needs them.
 *
 * Display nodes.  What the page shows is not the raw tree but the raw tree
 * after the client-side transforms: runs of system-library frames fold into
 * one "[N frames hidden]" group (the rule of view_collapse in view_filter.c:
 * a connected run of at least two library frames without significant self
 * time), and the exits of a run merge when they are the same frame.  So one
 * display node stands for a list of raw nodes (raws) with the same frame,
 * and its children are computed on first use from its raws' children.
 * Changing the collapse switch or the threshold rebuilds the display tree
 * and carries over which rows were open by matching child keys.
 */
(function () {
  'use strict';

  const $ = (id) => document.getElementById(id);
  const ROW_CAP = 500;        // rows one expansion builds before a "more" row
  const AUTO_ROWS = 250;      // rows the initial expansion may open
  const AUTO_SHARE = 0.1;     // the initial expansion follows nodes above this share of all
  const SEARCH_ROWS = 3000;   // rows a search may open
  const FLAME_ROW = 18;       // px per flame-graph level

  /* ------------------------------------------------------------------ data */

  let D;                      // the parsed JSON
  let nf = 0, fName, fMod, fFile, fLine, fKind, fLib;
  let N = 0, par, frm, slf, tot, cStart, cList, size;
  let KIND = [];
  let TOTAL = 0, RATE = 0;

  function load() {
    const text = $('sampled-data').textContent;
    D = JSON.parse(text);
    if (!D || D.format !== 'sampled-tree' || D.version !== 1)
      throw new Error('this page holds data of an unknown format');
    const S = D.strings, F = D.frames, X = D.nodes;
    KIND = D.kinds;
    nf = F.length / 6;
    fName = new Array(nf); fMod = new Array(nf); fFile = new Array(nf);
    fLine = new Uint32Array(nf); fKind = new Array(nf); fLib = new Uint8Array(nf);
    for (let i = 0; i < nf; i++) {
      const o = i * 6;
      fName[i] = S[F[o]]; fMod[i] = S[F[o + 1]]; fFile[i] = S[F[o + 2]];
      fLine[i] = F[o + 3]; fKind[i] = KIND[F[o + 4]] || 'unknown'; fLib[i] = F[o + 5] & 3;
      if (fName[i] === undefined || fMod[i] === undefined || fFile[i] === undefined)
        throw new Error('frame ' + i + ' names a string out of range');
    }
    N = X.length / 4;
    if (N < 1 || X[0] !== -1) throw new Error('the tree has no root');
    par = new Int32Array(N); frm = new Int32Array(N);
    slf = new Float64Array(N); tot = new Float64Array(N);
    const count = new Int32Array(N + 1);
    for (let i = 0; i < N; i++) {
      const o = i * 4;
      par[i] = X[o]; frm[i] = X[o + 1]; slf[i] = X[o + 2]; tot[i] = X[o + 3];
      if (i > 0) {
        if (!(par[i] >= 0 && par[i] < i)) throw new Error('node ' + i + ' comes before its parent');
        if (!(frm[i] >= 0 && frm[i] < nf)) throw new Error('node ' + i + ' names a frame out of range');
        count[par[i]]++;
      }
    }
    /* Children as one array sliced per node; preorder keeps the display order. */
    cStart = new Int32Array(N + 1);
    for (let i = 0; i < N; i++) cStart[i + 1] = cStart[i] + count[i];
    cList = new Int32Array(Math.max(N - 1, 1));
    const fill = cStart.slice(0, N);
    for (let i = 1; i < N; i++) cList[fill[par[i]]++] = i;
    /* Subtree sizes: in preorder node i's subtree is i .. i + size[i] - 1. */
    size = new Int32Array(N).fill(1);
    for (let i = N - 1; i >= 1; i--) size[par[i]] += size[i];
    TOTAL = tot[0];
    RATE = (D.meta && D.meta.rate_hz) || 0;
  }

  /* ------------------------------------------------------------ formatting */

  function fmtInt(n) { return Math.round(n).toLocaleString('en-US'); }

  function fmtTime(samples) {
    if (!RATE) return fmtInt(samples);
    const s = samples / RATE;
    if (s >= 1000) return s.toFixed(0) + 's';
    if (s >= 100) return s.toFixed(1) + 's';
    if (s >= 10) return s.toFixed(2) + 's';
    return s.toFixed(3) + 's';
  }

  function fmtPct(part, whole) {
    if (!whole) return '0.0%';
    const p = 100 * part / whole;
    if (p > 0 && p < 0.1) return '<0.1%';
    return p.toFixed(1) + '%';
  }

  function fmtDuration(ns) {
    let s = ns / 1e9;
    if (s < 1) return (ns / 1e6).toFixed(1) + ' ms';
    if (s < 120) return s.toFixed(2) + ' s';
    const h = Math.floor(s / 3600); s -= h * 3600;
    const m = Math.floor(s / 60); s -= m * 60;
    return (h ? h + ' h ' : '') + m + ' min ' + Math.floor(s) + ' s';
  }

  /* pyinstrument's colour steps, as the text view has them. */
  function heat(part) {
    const p = TOTAL ? part / TOTAL : 0;
    return p >= 0.6 ? 'h3' : p >= 0.2 ? 'h2' : p >= 0.05 ? 'h1' : 'h0';
  }

  function basename(path) {
    const i = path.lastIndexOf('/');
    return i >= 0 ? path.slice(i + 1) : path;
  }

  /* ----------------------------------------------------------- page state */

  const state = {
    collapse: true,
    minShare: 0,              // 0..1 of all samples
    query: '',
    thread: -1,               // raw node of the shown thread, -1 for all
    view: 'tree',
    sel: null,                // the selected display node
  };
  let minSamples = 0, sigSamples = 0;

  /* Search results over raw nodes: the frame matches, something below does, something above did. */
  let hitFrame = null, subHit = null, ancHit = null, nHits = 0;

  /* ---------------------------------------------------------- display tree */

  let ROOT = null;            // the display root (all samples, or one thread)

  function newDN(parent, key, f, raws, group, rl) {
    let t = 0, s = 0;
    for (const r of raws) { t += tot[r]; s += slf[r]; }
    return {
      p: parent, key: key, f: f, raws: raws, g: group, rl: rl,
      depth: parent ? parent.depth + 1 : 0,
      total: t, self: s, kids: null, rkids: null,
      run: null, libs: '', hidden: 0,
      open: false, rev: null, el: null, shown: 0, more: null, vis: null,
    };
  }

  function makeRoot() {
    if (state.thread >= 0)
      return newDN(null, 't' + state.thread, frm[state.thread], [state.thread], false, false);
    return newDN(null, 'root', -1, [0], false, false);
  }

  /*
   * Library code that a run may swallow (view_filter.c's view_collapsible):
   * flags bit 0 is library code, bit 1 a frame the user asked to keep.
   */
  function member(r) {
    return state.collapse && fLib[frm[r]] === 1 && !(slf[r] > 0 && slf[r] >= sigSamples);
  }

  function hasMemberChild(r) {
    for (let j = cStart[r]; j < cStart[r + 1]; j++) if (member(cList[j])) return true;
    return false;
  }

  /* Appends the run below head to out, breadth first, head included. */
  function collectRun(head, out) {
    out.push(head);
    for (let i = out.length - 1; i < out.length; i++) {
      const m = out[i];
      for (let j = cStart[m]; j < cStart[m + 1]; j++) if (member(cList[j])) out.push(cList[j]);
    }
  }

  /*
   * How many frames the group stands for once runs with the same head are
   * merged the way view_collapse merges them: members reached by the same
   * frames from the head count once.
   */
  function mergedRunSize(heads) {
    let count = 0;
    const queue = [heads];
    while (queue.length) {
      const set = queue.pop();
      count++;
      const by = new Map();
      for (const r of set) {
        for (let j = cStart[r]; j < cStart[r + 1]; j++) {
          const c = cList[j];
          if (!member(c)) continue;
          const list = by.get(frm[c]);
          if (list) list.push(c); else by.set(frm[c], [c]);
        }
      }
      for (const list of by.values()) queue.push(list);
    }
    return count;
  }

  function groupLibs(run) {
    const seen = [];
    let more = false;
    for (const r of run) {
      const m = fMod[frm[r]];
      if (seen.indexOf(m) >= 0) continue;
      if (seen.length === 3) { more = true; continue; }
      seen.push(m);
    }
    return seen.join(', ') + (more ? ', ...' : '');
  }

  /* Items to DNs: equal keys merge, then largest first, ties by name. */
  function finish(parent, items) {
    const out = [];
    for (const it of items.values()) {
      const dn = newDN(parent, it.key, it.f, it.raws, it.g, it.rl);
      if (it.g) {
        dn.run = it.run;
        dn.hidden = it.raws.length > 1 ? mergedRunSize(it.raws) : it.run.length;
        dn.libs = groupLibs(it.run);
        let s = 0;
        for (const r of it.run) s += slf[r];
        dn.self = s;
      }
      out.push(dn);
    }
    out.sort((a, b) => b.total - a.total || cmpName(a, b));
    return out;
  }

  function cmpName(a, b) {
    const x = a.g ? '[' : fName[a.f], y = b.g ? '[' : fName[b.f];
    return x < y ? -1 : x > y ? 1 : 0;
  }

  function addItem(items, key, r, rl) {
    let it = items.get(key);
    if (!it) items.set(key, it = { key: key, f: frm[r], raws: [], g: false, rl: rl });
    it.raws.push(r);
  }

  /* The children of a raw-backed display node (root, thread, frame, revealed run member). */
  function realKids(dn) {
    const items = new Map();
    for (const r of dn.raws) {
      for (let j = cStart[r]; j < cStart[r + 1]; j++) {
        const c = cList[j];
        if (!member(c)) { addItem(items, 'f' + frm[c], c, false); continue; }
        if (dn.rl) { addItem(items, 'r' + frm[c], c, true); continue; }
        if (!hasMemberChild(c)) { addItem(items, 'f' + frm[c], c, false); continue; }
        const key = 'g' + frm[c];
        let it = items.get(key);
        if (!it) items.set(key, it = { key: key, f: frm[c], raws: [], g: true, rl: false, run: [] });
        it.raws.push(c);
        collectRun(c, it.run);
      }
    }
    return finish(dn, items);
  }

  /* A folded group's children: where its runs exit into other code, equal frames merged. */
  function exitKids(dn) {
    const items = new Map();
    for (const m of dn.run) {
      for (let j = cStart[m]; j < cStart[m + 1]; j++) {
        const c = cList[j];
        if (!member(c)) addItem(items, 'f' + frm[c], c, false);
      }
    }
    return finish(dn, items);
  }

  /* A revealed group's children: the run heads themselves, shown frame by frame. */
  function revealKids(dn) {
    const items = new Map();
    for (const r of dn.raws) addItem(items, 'r' + frm[r], r, true);
    return finish(dn, items);
  }

  /* A group shows its frames when the user said so, else while a search hits inside it. */
  function revealed(dn) {
    if (dn.rev !== null) return dn.rev;
    return hitFrame !== null && runHit(dn);
  }

  function runHit(dn) {
    if (dn.hitGen === searchGen) return dn.hitVal;
    let v = false;
    for (const r of dn.run) if (hitFrame[frm[r]]) { v = true; break; }
    dn.hitGen = searchGen; dn.hitVal = v;
    return v;
  }

  function kidsOf(dn) {
    if (!dn.g) return dn.kids || (dn.kids = realKids(dn));
    if (revealed(dn)) return dn.rkids || (dn.rkids = revealKids(dn));
    return dn.kids || (dn.kids = exitKids(dn));
  }

  function shown(dn) {
    if (dn.total < minSamples) return false;
    if (hitFrame === null) return true;
    for (const r of dn.raws) if (subHit[r] || ancHit[r]) return true;
    return false;
  }

  /* The children a row shows, cached until the filters change. */
  function visKids(dn) {
    if (dn.vis && dn.visGen === filterGen) return dn.vis;
    dn.vis = kidsOf(dn).filter(shown);
    dn.visGen = filterGen;
    return dn.vis;
  }

  function isHit(dn) {
    return hitFrame !== null && !dn.g && dn.f >= 0 && hitFrame[dn.f] === 1;
  }

  let filterGen = 0, searchGen = 0;

  /* Rebuilds the display tree, keeping open what was open and the selection where it was. */
  function rebuild() {
    const old = ROOT, sel = state.sel;
    ROOT = makeRoot();
    state.sel = null;
    if (old && old.key === ROOT.key) carry(old, ROOT, sel);
    else ROOT.open = true;
  }

  /* Copies the open and revealed flags from an old display subtree to its new twin, by child keys. */
  function carry(from, to, sel) {
    if (from === sel) state.sel = to;
    to.open = from.open;
    to.rev = from.rev;
    if (!from.open) return;
    const byKey = new Map();
    for (const list of [from.kids, from.rkids]) {
      if (list) for (const k of list) if (k.open || k.rev !== null || k === sel) byKey.set(k.key, k);
    }
    if (!byKey.size) return;
    for (const k of kidsOf(to)) {
      const o = byKey.get(k.key);
      if (o) carry(o, k, sel);
    }
  }

  /* Whether dn's row is in the page now (rows of hidden or redrawn nodes linger in dn.el). */
  function rendered(dn) {
    return dn.el !== null && dn.el.isConnected;
  }

  /* ------------------------------------------------------------- tree rows */

  const treeEl = $('tree');

  function label(dn) {
    if (dn.f < 0) return 'all samples';
    if (dn.g) return '[' + dn.hidden + ' frames hidden]';
    return fName[dn.f] || '[unknown]';
  }

  function kindOf(dn) {
    if (dn.f < 0) return 'root';
    if (dn.g) return 'group';
    return fKind[dn.f];
  }

  /* Appends text to el, with the search query marked. */
  function marked(el, text) {
    const q = state.query;
    if (!q) { el.textContent = text; return; }
    const low = text.toLowerCase();
    let at = 0;
    for (;;) {
      const i = low.indexOf(q, at);
      if (i < 0) break;
      if (i > at) el.appendChild(document.createTextNode(text.slice(at, i)));
      const m = document.createElement('mark');
      m.textContent = text.slice(i, i + q.length);
      el.appendChild(m);
      at = i + q.length;
    }
    if (at < text.length) el.appendChild(document.createTextNode(text.slice(at)));
  }

  function span(cls, text) {
    const s = document.createElement('span');
    s.className = cls;
    if (text !== undefined) s.textContent = text;
    return s;
  }

  function tooltipText(dn) {
    const lines = [label(dn)];
    if (dn.f >= 0 && !dn.g) {
      if (fMod[dn.f]) lines.push('module: ' + fMod[dn.f]);
      if (fFile[dn.f]) lines.push('file: ' + fFile[dn.f] + (fLine[dn.f] ? ':' + fLine[dn.f] : ''));
    } else if (dn.g) {
      lines.push('libraries: ' + dn.libs);
    }
    lines.push('samples: ' + fmtInt(dn.total) + ' total, ' + fmtInt(dn.self) + ' self');
    if (dn.raws.length > 1) lines.push('merged from ' + dn.raws.length + ' call paths');
    return lines.join('\n');
  }

  function makeRow(dn) {
    const row = document.createElement('div');
    const kind = kindOf(dn);
    const kids = visKids(dn);
    let cls = 'row k-' + kind;
    if (!kids.length) cls += ' leaf';
    else if (dn.open) cls += ' open';
    if (dn.f >= 0 && !dn.g && fLib[dn.f]) cls += ' lib';
    if (isHit(dn)) cls += ' hit';
    if (dn === state.sel) cls += ' sel';
    row.className = cls;
    row.style.setProperty('--d', dn.depth);
    row.setAttribute('role', 'treeitem');
    row.setAttribute('aria-level', dn.depth + 1);
    if (kids.length) row.setAttribute('aria-expanded', dn.open ? 'true' : 'false');
    row.dataset.samples = dn.total;
    row.title = tooltipText(dn);
    row.appendChild(span('tw', '\u25b6'));
    const h = heat(dn.total);
    row.appendChild(span('time ' + h, fmtTime(dn.total)));
    row.appendChild(span('pct ' + h, fmtPct(dn.total, TOTAL)));
    row.appendChild(span('chip'));
    const fn = span('fn');
    marked(fn, label(dn));
    row.appendChild(fn);
    if (dn.f < 0 || (dn.depth === 0 && kind === 'thread')) {
      row.appendChild(span('count', fmtInt(dn.total) + ' samples'));
    } else if (dn.g) {
      const m = span('mod');
      marked(m, dn.libs);
      row.appendChild(m);
      const rv = span('reveal', revealed(dn) ? 'fold' : 'show');
      rv.dataset.act = 'reveal';
      rv.title = revealed(dn) ? 'fold these library frames again' : 'show the library frames one by one';
      row.appendChild(rv);
    } else {
      if (fFile[dn.f]) {
        const l = span('loc');
        marked(l, basename(fFile[dn.f]) + (fLine[dn.f] ? ':' + fLine[dn.f] : ''));
        row.appendChild(l);
      }
      if (fMod[dn.f]) {
        const m = span('mod');
        marked(m, basename(fMod[dn.f]));
        row.appendChild(m);
      }
    }
    row._dn = dn;
    dn.el = row;
    return row;
  }

  function makeMore(dn, left) {
    const row = document.createElement('div');
    row.className = 'row more leaf';
    row.style.setProperty('--d', dn.depth + 1);
    row.setAttribute('role', 'treeitem');
    row.appendChild(span('tw', ''));
    row.appendChild(span('time', ''));
    row.appendChild(span('pct', ''));
    row.appendChild(span('chip'));
    row.appendChild(span('fn', '\u2026 ' + fmtInt(left) + ' more (show ' + Math.min(left, ROW_CAP) + ')'));
    row._more = dn;
    dn.more = row;
    return row;
  }

  /* Rows of dn's shown children (and theirs, where open) into frag. */
  function renderKids(dn, frag) {
    const kids = visKids(dn);
    const upto = Math.min(kids.length, Math.max(dn.shown, ROW_CAP));
    dn.shown = upto;
    for (let i = 0; i < upto; i++) {
      const k = kids[i];
      frag.appendChild(makeRow(k));
      if (k.open && visKids(k).length) renderKids(k, frag);
    }
    if (upto < kids.length) frag.appendChild(makeMore(dn, kids.length - upto));
  }

  /* The last row of dn's shown subtree. */
  function lastRow(dn) {
    if (dn.more) return dn.more;
    if (!dn.open) return dn.el;
    const kids = visKids(dn);
    for (let i = Math.min(dn.shown, kids.length) - 1; i >= 0; i--) if (rendered(kids[i])) return lastRow(kids[i]);
    return dn.el;
  }

  function dropKids(dn) {
    if (dn.more) { dn.more.remove(); dn.more = null; }
    if (!dn.vis) return;
    for (const k of dn.vis) {
      if (!rendered(k)) { k.el = null; continue; }
      if (k.open) dropKids(k);
      k.el.remove();
      k.el = null;
      if (state.sel === k) select(dn, false);
    }
    dn.shown = 0;
  }

  function expand(dn) {
    if (dn.open || !rendered(dn) || !visKids(dn).length) return;
    dn.open = true;
    dn.el.classList.add('open');
    dn.el.setAttribute('aria-expanded', 'true');
    const frag = document.createDocumentFragment();
    dn.shown = 0;
    renderKids(dn, frag);
    dn.el.after(frag);
  }

  function collapse(dn) {
    if (!dn.open || !rendered(dn)) return;
    dropKids(dn);
    dn.open = false;
    dn.el.classList.remove('open');
    dn.el.setAttribute('aria-expanded', 'false');
  }

  function toggle(dn) { if (dn.open) collapse(dn); else expand(dn); }

  function showMore(dn) {
    const row = dn.more;
    if (!row) return;
    const kids = visKids(dn);
    const from = dn.shown, upto = Math.min(kids.length, from + ROW_CAP);
    const frag = document.createDocumentFragment();
    for (let i = from; i < upto; i++) {
      frag.appendChild(makeRow(kids[i]));
      if (kids[i].open && visKids(kids[i]).length) renderKids(kids[i], frag);
    }
    dn.shown = upto;
    dn.more = null;
    if (upto < kids.length) frag.appendChild(makeMore(dn, kids.length - upto));
    row.replaceWith(frag);
    if (kids[from]) select(kids[from], true);
  }

  function renderTree() {
    treeEl.textContent = '';
    const frag = document.createDocumentFragment();
    frag.appendChild(makeRow(ROOT));
    if (ROOT.open) renderKids(ROOT, frag);
    treeEl.appendChild(frag);
    if (!state.sel || !rendered(state.sel)) select(ROOT, false);
    else state.sel.el.classList.add('sel');
  }

  function select(dn, scroll) {
    if (state.sel && state.sel.el) state.sel.el.classList.remove('sel');
    state.sel = dn;
    if (dn && dn.el) {
      dn.el.classList.add('sel');
      if (scroll) dn.el.scrollIntoView({ block: 'nearest' });
    }
  }

  /* Opens the heavy paths so the first screen says something. */
  function autoExpand(dn, budget) {
    let rows = 0;
    const stack = [dn];
    while (stack.length && rows < budget) {
      const d = stack.pop();
      const kids = visKids(d);
      if (!kids.length) continue;
      if (d !== dn && d.total < AUTO_SHARE * TOTAL) continue;
      d.open = true;
      rows += Math.min(kids.length, ROW_CAP);
      for (let i = kids.length - 1; i >= 0; i--) if (kids[i].total >= AUTO_SHARE * TOTAL) stack.push(kids[i]);
    }
  }

  /* Opens every row on a path to a search hit, up to a budget. */
  function searchExpand(dn, budget) {
    let rows = 0;
    const stack = [dn];
    while (stack.length && rows < budget) {
      const d = stack.pop();
      const kids = visKids(d);
      let below = false;
      for (const k of kids) if (hasHitBelow(k) || isHit(k)) { below = true; break; }
      if (!below) continue;
      d.open = true;
      rows += Math.min(kids.length, ROW_CAP);
      for (let i = kids.length - 1; i >= 0; i--) if (hasHitBelow(kids[i])) stack.push(kids[i]);
    }
  }

  /* Whether a hit lies strictly below dn (groups: anywhere in or under the run). */
  function hasHitBelow(dn) {
    for (const r of dn.raws) {
      if (dn.g) { if (subHit[r]) return true; continue; }
      for (let j = cStart[r]; j < cStart[r + 1]; j++) if (subHit[cList[j]]) return true;
    }
    return false;
  }

  /* ------------------------------------------------------------ keyboard */

  function rowOf(target) {
    const row = target.closest && target.closest('.row');
    return row && treeEl.contains(row) ? row : null;
  }

  function selectRow(row) {
    if (!row) return;
    if (row._dn) select(row._dn, true);
    else if (row._more) {
      if (state.sel && state.sel.el) state.sel.el.classList.remove('sel');
      state.sel = null;
      row.classList.add('sel');
      row.scrollIntoView({ block: 'nearest' });
    }
  }

  function currentRow() {
    if (state.sel && rendered(state.sel)) return state.sel.el;
    return treeEl.querySelector('.row.sel') || treeEl.firstElementChild;
  }

  treeEl.addEventListener('click', (ev) => {
    const row = rowOf(ev.target);
    if (!row) return;
    treeEl.focus({ preventScroll: true });
    if (row._more) { showMore(row._more); return; }
    const dn = row._dn;
    if (ev.target.dataset && ev.target.dataset.act === 'reveal') {
      reveal(dn);
      return;
    }
    select(dn, false);
    toggle(dn);
  });

  /* Flips a group between folded and shown frame by frame; shown, its run opens down to the exits. */
  function reveal(dn) {
    const wasOpen = dn.open;
    collapse(dn);
    dn.rev = !revealed(dn);
    dn.vis = null;
    if (dn.rev) openRun(dn, 2000);
    const row = dn.el;
    const fresh = makeRow(dn);
    row.replaceWith(fresh);
    if (wasOpen || dn.rev) expand(dn);
    select(dn, false);
  }

  /* Marks the shown run members below dn open, up to a budget of nodes. */
  function openRun(dn, budget) {
    const stack = [dn];
    while (stack.length && budget-- > 0) {
      for (const k of visKids(stack.pop())) {
        if (!k.rl) continue;
        k.open = true;
        stack.push(k);
      }
    }
  }

  treeEl.addEventListener('keydown', (ev) => {
    if (ev.altKey || ev.ctrlKey || ev.metaKey) return;
    const row = currentRow();
    if (!row) return;
    const dn = row._dn;
    let handled = true;
    switch (ev.key) {
      case 'ArrowDown': selectRow(row.nextElementSibling); break;
      case 'ArrowUp': selectRow(row.previousElementSibling); break;
      case 'ArrowRight':
        if (!dn) break;
        if (!dn.open && visKids(dn).length) expand(dn);
        else if (dn.open) selectRow(row.nextElementSibling);
        break;
      case 'ArrowLeft':
        if (!dn) { selectRow(row._more.el); break; }
        if (dn.open) collapse(dn);
        else if (dn.p && rendered(dn.p)) select(dn.p, true);
        break;
      case 'Enter': case ' ':
        if (row._more) showMore(row._more);
        else toggle(dn);
        break;
      case 'Home': selectRow(treeEl.firstElementChild); break;
      case 'End': selectRow(treeEl.lastElementChild); break;
      case 'PageDown': case 'PageUp': {
        let r = row;
        for (let i = 0; i < 20; i++) {
          const n = ev.key === 'PageDown' ? r.nextElementSibling : r.previousElementSibling;
          if (!n) break;
          r = n;
        }
        selectRow(r);
        break;
      }
      default: handled = false;
    }
    if (handled) ev.preventDefault();
  });

  /* ------------------------------------------------------------ flame graph */

  const flameEl = $('flame'), scrollEl = $('flame-scroll'), canvas = $('flame-canvas');
  const tipEl = $('tip'), infoEl = $('flame-info');
  const ctx = canvas.getContext('2d');
  let zoom = null;            // the display node the flame graph is zoomed to
  let boxes = [];             // per depth: [{dn, x0, x1}] left to right
  let flameDepth = 0, hover = null, flameW = 0, flameH = 0;

  /* Lays out boxes from the root: ancestors of the zoom node full width, the rest by share. */
  function layoutFlame() {
    boxes = [];
    const z = zoom || ROOT;
    const chain = [];
    for (let d = z; d; d = d.p) chain.unshift(d);
    chain.forEach((d, i) => { boxes[i] = [{ dn: d, x0: 0, x1: 1, anc: d !== z }]; });
    const base = chain.length - 1;
    const minW = 0.4 / Math.max(flameW, 1);
    const stack = [[z, 0, 1, base]];
    let count = 0;
    while (stack.length && count < 200000) {
      const [d, x0, x1, depth] = stack.pop();
      if (d.total <= 0) continue;
      const kids = visKids(d);
      let x = x0;
      const scale = (x1 - x0) / d.total;
      const next = [];
      for (const k of kids) {
        const w = k.total * scale;
        if (w >= minW) {
          const row = boxes[depth + 1] || (boxes[depth + 1] = []);
          row.push({ dn: k, x0: x, x1: x + w, anc: false });
          next.push([k, x, x + w, depth + 1]);
          count++;
        }
        x += w;
      }
      for (let i = next.length - 1; i >= 0; i--) stack.push(next[i]);
    }
    for (const row of boxes) if (row) row.sort((a, b) => a.x0 - b.x0);
    flameDepth = boxes.length;
    $('flame-spacer').style.height = Math.max(0, flameDepth * FLAME_ROW - flameH) + 'px';
  }

  function hash(s) {
    let h = 2166136261;
    for (let i = 0; i < s.length; i++) { h ^= s.charCodeAt(i); h = Math.imul(h, 16777619); }
    return (h >>> 0) / 4294967295;
  }

  const HUES = { python: [205, 55, 50], native: [28, 70, 52], kernel: [2, 62, 52], unknown: [215, 6, 50],
    thread: [290, 22, 52], group: [215, 6, 40], root: [215, 8, 45] };

  function boxColour(dn) {
    const kind = kindOf(dn);
    const base = HUES[kind] || HUES.unknown;
    const v = dn.f >= 0 && !dn.g ? hash(fName[dn.f]) : 0.5;
    let h = base[0] + (v - 0.5) * 24, s = base[1], l = base[2] + (v - 0.5) * 14;
    if (kind === 'native' && dn.f >= 0 && fLib[dn.f]) { s -= 30; }
    if (hitFrame !== null) {
      if (isHit(dn)) return 'hsl(48, 95%, 60%)';
      s = Math.max(0, s - 40); l = Math.max(22, l - 14);
    }
    return 'hsl(' + h.toFixed(0) + ',' + s + '%,' + l.toFixed(0) + '%)';
  }

  function sizeFlame() {
    const r = scrollEl.getBoundingClientRect();
    flameW = Math.max(100, Math.floor(scrollEl.clientWidth));
    flameH = Math.max(100, Math.floor(scrollEl.clientHeight || r.height));
    const dpr = window.devicePixelRatio || 1;
    canvas.width = Math.floor(flameW * dpr);
    canvas.height = Math.floor(flameH * dpr);
    canvas.style.width = flameW + 'px';
    canvas.style.height = flameH + 'px';
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  }

  function drawFlame() {
    ctx.clearRect(0, 0, flameW, flameH);
    ctx.font = '12px ui-monospace, "DejaVu Sans Mono", monospace';
    ctx.textBaseline = 'middle';
    const top = scrollEl.scrollTop;
    const first = Math.floor(top / FLAME_ROW), last = Math.min(flameDepth - 1, Math.ceil((top + flameH) / FLAME_ROW));
    const charW = ctx.measureText('m').width || 7;
    for (let d = Math.max(0, first); d <= last; d++) {
      const row = boxes[d];
      if (!row) continue;
      const y = d * FLAME_ROW - top;
      for (const b of row) {
        const x = b.x0 * flameW, w = (b.x1 - b.x0) * flameW;
        ctx.globalAlpha = b.anc ? 0.55 : 1;
        ctx.fillStyle = boxColour(b.dn);
        ctx.fillRect(x, y, Math.max(w - 1, 0.5), FLAME_ROW - 1);
        if (b.dn === hover) {
          ctx.strokeStyle = '#fff';
          ctx.lineWidth = 1;
          ctx.strokeRect(x + 0.5, y + 0.5, Math.max(w - 2, 0.5), FLAME_ROW - 2);
        }
        if (w > charW * 3) {
          const max = Math.floor((w - 6) / charW);
          let t = b.dn.f < 0 ? 'all samples' : label(b.dn);
          if (t.length > max) t = t.slice(0, Math.max(max - 1, 1)) + '\u2026';
          ctx.fillStyle = '#101214';
          ctx.fillText(t, x + 3, y + FLAME_ROW / 2);
        }
      }
    }
    ctx.globalAlpha = 1;
  }

  function renderFlame() {
    sizeFlame();
    layoutFlame();
    drawFlame();
    const z = zoom || ROOT;
    infoEl.textContent = '';
    const what = span('', 'Showing ' + (z === ROOT ? 'everything' : label(z)) + ': ' + fmtInt(z.total) +
      ' samples (' + fmtPct(z.total, TOTAL) + '). Click a box to zoom, Esc to zoom out.');
    infoEl.appendChild(what);
    const legend = span('legend');
    for (const [k, text] of [['python', 'Python'], ['native', 'native'], ['lib', 'system library'],
      ['kernel', 'kernel'], ['group', 'hidden frames'], ['thread', 'thread']]) {
      const item = span('lg-' + k);
      item.appendChild(span('sw'));
      item.appendChild(document.createTextNode(text));
      legend.appendChild(item);
    }
    infoEl.appendChild(legend);
    if (z !== ROOT) {
      const b = document.createElement('button');
      b.type = 'button';
      b.id = 'flame-reset';
      b.textContent = 'Reset zoom';
      b.addEventListener('click', () => { zoom = null; renderFlame(); });
      infoEl.appendChild(b);
    }
  }

  function boxAt(ev) {
    const r = canvas.getBoundingClientRect();
    const x = (ev.clientX - r.left) / flameW, y = ev.clientY - r.top + scrollEl.scrollTop;
    const row = boxes[Math.floor(y / FLAME_ROW)];
    if (!row) return null;
    let lo = 0, hi = row.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1, b = row[mid];
      if (x < b.x0) hi = mid - 1;
      else if (x >= b.x1) lo = mid + 1;
      else return b;
    }
    return null;
  }

  function tipLine(parent, name, value) {
    const d = document.createElement('div');
    d.className = 't-row';
    d.appendChild(document.createTextNode(name + ' '));
    const b = document.createElement('b');
    b.textContent = value;
    d.appendChild(b);
    parent.appendChild(d);
  }

  function showTip(b, ev) {
    const dn = b.dn;
    tipEl.textContent = '';
    const n = document.createElement('div');
    n.className = 't-name';
    n.textContent = label(dn);
    tipEl.appendChild(n);
    if (dn.g) tipLine(tipEl, 'libraries', dn.libs);
    else if (dn.f >= 0) {
      if (fMod[dn.f]) tipLine(tipEl, 'module', fMod[dn.f]);
      if (fFile[dn.f]) tipLine(tipEl, 'file', fFile[dn.f] + (fLine[dn.f] ? ':' + fLine[dn.f] : ''));
      tipLine(tipEl, 'kind', fKind[dn.f]);
    }
    tipLine(tipEl, 'time', fmtTime(dn.total) + (RATE ? '  (' + fmtInt(dn.total) + ' samples)' : ' samples'));
    tipLine(tipEl, 'share', fmtPct(dn.total, TOTAL) + ' of all' +
      (zoom && zoom !== ROOT ? ', ' + fmtPct(dn.total, zoom.total) + ' of zoom' : ''));
    tipLine(tipEl, 'self', fmtTime(dn.self) + ' (' + fmtPct(dn.self, TOTAL) + ')');
    tipEl.hidden = false;
    const w = tipEl.offsetWidth, h = tipEl.offsetHeight;
    let x = ev.clientX + 14, y = ev.clientY + 14;
    if (x + w > window.innerWidth - 4) x = Math.max(4, ev.clientX - w - 14);
    if (y + h > window.innerHeight - 4) y = Math.max(4, ev.clientY - h - 14);
    tipEl.style.left = x + 'px';
    tipEl.style.top = y + 'px';
  }

  canvas.addEventListener('mousemove', (ev) => {
    const b = boxAt(ev);
    const dn = b ? b.dn : null;
    if (dn !== hover) { hover = dn; drawFlame(); }
    canvas.style.cursor = dn ? 'pointer' : 'default';
    if (b) showTip(b, ev); else tipEl.hidden = true;
  });
  canvas.addEventListener('mouseleave', () => { hover = null; tipEl.hidden = true; drawFlame(); });
  canvas.addEventListener('click', (ev) => {
    const b = boxAt(ev);
    if (!b) return;
    zoom = b.dn === ROOT ? null : b.dn;
    tipEl.hidden = true;
    renderFlame();
  });
  scrollEl.addEventListener('scroll', () => requestAnimationFrame(drawFlame));
  window.addEventListener('resize', () => { if (state.view === 'flame') renderFlame(); });

  /* -------------------------------------------------------------- controls */

  const searchEl = $('search'), hideEl = $('hide-lib'), thrEl = $('threshold'), thrOut = $('threshold-value');
  const threadEl = $('thread');

  /* The slider moves through these shares (in percent): small ones matter most. */
  const STOPS = [0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50];
  function sliderToShare(v) { return STOPS[Math.max(0, Math.min(STOPS.length - 1, v | 0))] / 100; }
  function shareToSlider(s) {
    let best = 0;
    STOPS.forEach((p, i) => { if (Math.abs(p / 100 - s) < Math.abs(STOPS[best] / 100 - s)) best = i; });
    return best;
  }

  function showThreshold() {
    thrOut.textContent = +(state.minShare * 100).toPrecision(3) + '%';
  }

  function applySearch() {
    const q = state.query;
    searchGen++;
    if (!q) { hitFrame = subHit = ancHit = null; nHits = 0; return; }
    hitFrame = new Uint8Array(nf);
    for (let i = 0; i < nf; i++) {
      if (fName[i].toLowerCase().includes(q) || fMod[i].toLowerCase().includes(q) ||
          fFile[i].toLowerCase().includes(q)) hitFrame[i] = 1;
    }
    subHit = new Uint8Array(N);
    ancHit = new Uint8Array(N);
    nHits = 0;
    for (let i = N - 1; i >= 1; i--) {
      if (hitFrame[frm[i]]) subHit[i] = 1;
      if (subHit[i]) subHit[par[i]] = 1;
    }
    /* Matches count in what is shown: one thread's subtree or everything. */
    const lo = Math.max(state.thread, 1), hi = state.thread >= 0 ? state.thread + size[state.thread] : N;
    for (let i = lo; i < hi; i++) if (hitFrame[frm[i]]) nHits++;
    for (let i = 1; i < N; i++) {
      const p = par[i];
      if (p > 0 && (ancHit[p] || hitFrame[frm[p]])) ancHit[i] = 1;
    }
  }

  function setNotice(text, info) {
    const n = $('notice');
    n.textContent = text || '';
    n.className = info ? 'info' : '';
    n.hidden = !text;
  }

  /* Re-derives everything that hangs on the controls and redraws the current view. */
  function refresh(how) {
    minSamples = state.minShare * TOTAL;
    sigSamples = state.minShare * TOTAL;
    filterGen++;
    if (how.search) applySearch();
    if (how.rebuild) { rebuild(); zoom = null; }
    if (how.search) {
      if (hitFrame !== null) searchExpand(ROOT, SEARCH_ROWS);
      $('search-count').textContent = !state.query ? '' : !nHits ? 'no match'
        : nHits === 1 ? '1 match' : fmtInt(nHits) + ' matches';
    }
    if (!TOTAL) setNotice('No samples yet.', true);
    else if (hitFrame !== null && !nHits) setNotice('Nothing matches \u201c' + state.query + '\u201d.', true);
    else setNotice('');
    if (state.view === 'tree') renderTree();
    else renderFlame();
  }

  let searchTimer = 0;
  searchEl.addEventListener('input', () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => {
      const q = searchEl.value.trim().toLowerCase();
      if (q === state.query) return;
      state.query = q;
      refresh({ search: true });
    }, 120);
  });
  searchEl.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter') {
      clearTimeout(searchTimer);
      state.query = searchEl.value.trim().toLowerCase();
      refresh({ search: true });
      treeEl.focus();
    } else if (ev.key === 'Escape') {
      searchEl.value = '';
      if (state.query) { state.query = ''; refresh({ search: true }); }
    }
  });
  hideEl.addEventListener('change', () => {
    state.collapse = hideEl.checked;
    refresh({ rebuild: true, search: true });
  });
  let thrFrame = 0;
  thrEl.addEventListener('input', () => {
    state.minShare = sliderToShare(+thrEl.value);
    showThreshold();
    cancelAnimationFrame(thrFrame);
    thrFrame = requestAnimationFrame(() => refresh({ rebuild: true, search: true }));
  });
  threadEl.addEventListener('change', () => {
    state.thread = +threadEl.value;
    state.sel = null;
    ROOT = null;
    refresh({ rebuild: true, search: true });
    if (!hitFrame) { autoExpand(ROOT, AUTO_ROWS); redraw(); }
  });

  function redraw() { if (state.view === 'tree') renderTree(); else renderFlame(); }

  function setView(v) {
    state.view = v;
    $('tab-tree').setAttribute('aria-selected', v === 'tree');
    $('tab-flame').setAttribute('aria-selected', v === 'flame');
    treeEl.hidden = v !== 'tree';
    flameEl.hidden = v !== 'flame';
    tipEl.hidden = true;
    redraw();
    if (v === 'tree') treeEl.focus({ preventScroll: true });
  }
  $('tab-tree').addEventListener('click', () => setView('tree'));
  $('tab-flame').addEventListener('click', () => setView('flame'));

  document.addEventListener('keydown', (ev) => {
    const t = ev.target;
    const typing = t && (t.tagName === 'INPUT' || t.tagName === 'SELECT' || t.tagName === 'TEXTAREA');
    if (ev.key === '/' && !typing) { ev.preventDefault(); searchEl.focus(); searchEl.select(); }
    else if (ev.key === 'Escape' && state.view === 'flame' && zoom) {
      zoom = zoom.p && zoom.p !== ROOT ? zoom.p : null;
      renderFlame();
    }
  });

  /* ---------------------------------------------------------------- header */

  function fact(dl, name, value, title) {
    if (value === undefined || value === null || value === '') return;
    const div = document.createElement('div');
    const dt = document.createElement('dt');
    const dd = document.createElement('dd');
    dt.textContent = name;
    dd.textContent = String(value);
    if (title) div.title = title;
    div.appendChild(dt);
    div.appendChild(dd);
    dl.appendChild(div);
  }

  function fmtDate(ms) {
    const d = new Date(ms);
    if (isNaN(d.getTime())) return '';
    const p = (n) => String(n).padStart(2, '0');
    return d.getFullYear() + '-' + p(d.getMonth() + 1) + '-' + p(d.getDate()) + ' ' +
      p(d.getHours()) + ':' + p(d.getMinutes()) + ':' + p(d.getSeconds());
  }

  function header() {
    const m = D.meta || {};
    const cmd = m.cmdline || m.comm || (m.pid ? 'pid ' + m.pid : 'call tree');
    $('hdr-cmd').textContent = cmd;
    $('hdr-cmd').title = cmd;
    document.title = (m.comm || basename(cmd.split(' ')[0]) || 'call tree') +
      (m.pid ? ' [' + m.pid + ']' : '') + ' \u2014 sampled';
    const dl = $('hdr-facts');
    fact(dl, 'pid', m.pid || '');
    if (m.tid) fact(dl, 'thread', m.tid);
    fact(dl, 'state', m.state);
    fact(dl, 'duration', m.duration_ns ? fmtDuration(m.duration_ns) : '');
    fact(dl, 'samples', fmtInt(TOTAL) + (m.samples && m.samples !== TOTAL ? ' of ' + fmtInt(m.samples) : ''),
      'samples in this tree' + (m.samples ? ' (the daemon took ' + fmtInt(m.samples) + ')' : ''));
    fact(dl, 'rate', m.rate_hz ? m.rate_hz + ' Hz' : '');
    fact(dl, 'mode', m.mode ? m.mode + (m.sampler ? ' (' + m.sampler + ')' : '') : '');
    if (m.lost) fact(dl, 'lost', fmtInt(m.lost));
    if (m.truncated) fact(dl, 'truncated', fmtInt(m.truncated), 'samples whose stack could not be followed to its root');
    fact(dl, 'date', m.started_unix_ms ? fmtDate(m.started_unix_ms) : m.generated_unix_ms ? fmtDate(m.generated_unix_ms) : '',
      m.started_unix_ms ? 'when sampling started' : 'when this page was written');
    const f = $('ftr');
    f.textContent = '';
    const keys = span('keys');
    keys.innerHTML = '<kbd>\u2191</kbd> <kbd>\u2193</kbd> move \u00a0 <kbd>\u2192</kbd> open \u00a0 ' +
      '<kbd>\u2190</kbd> close \u00a0 <kbd>Enter</kbd> toggle \u00a0 <kbd>/</kbd> search';
    f.appendChild(keys);
    const parts = [];
    if (m.cut_nodes) parts.push(fmtInt(m.cut_nodes) + ' nodes (' + fmtInt(m.cut_samples || 0) +
      ' samples) were below ' + ((m.min_share || 0) * 100).toFixed(2) + '% when the page was written');
    if (tot[0] > 0 && slf[0] > 0) parts.push(fmtInt(slf[0]) + ' samples hold no frame');
    parts.push(fmtInt(N - 1) + ' nodes');
    if (m.generator) parts.push(m.generator);
    f.appendChild(span('', ' \u2014 ' + parts.join(' \u00b7 ')));
  }

  function threads() {
    const list = [];
    for (let j = cStart[0]; j < cStart[1]; j++) {
      const c = cList[j];
      if (fKind[frm[c]] === 'thread') list.push(c);
    }
    if (!list.length) return;
    $('thread-box').hidden = false;
    const all = document.createElement('option');
    all.value = '-1';
    all.textContent = 'All threads (' + list.length + ')';
    threadEl.appendChild(all);
    for (const c of list) {
      const o = document.createElement('option');
      o.value = String(c);
      o.textContent = fName[frm[c]] + ' \u2014 ' + fmtPct(tot[c], TOTAL);
      threadEl.appendChild(o);
    }
  }

  /* The display tree under the current filters as nested [label, module, total, self, kids]. */
  function snapshot(limit) {
    let left = limit || 1e6;
    const walk = (dn) => {
      left--;
      const mod = dn.g ? dn.libs : dn.f >= 0 ? fMod[dn.f] : '';
      const kids = [];
      for (const k of visKids(dn)) if (left > 0) kids.push(walk(k));
      return [label(dn), mod, dn.total, dn.self, kids];
    };
    return walk(ROOT);
  }

  /* ------------------------------------------------------------------ boot */

  function boot() {
    const t0 = performance.now();
    try {
      load();
    } catch (e) {
      setNotice('Cannot show this profile: ' + e.message);
      return;
    }
    const m = D.meta || {};
    const initial = typeof m.initial_min_share === 'number' ? m.initial_min_share : 0.005;
    thrEl.value = shareToSlider(Math.max(initial, m.min_share || 0));
    state.minShare = sliderToShare(+thrEl.value);
    showThreshold();
    if (m.collapsed) {
      hideEl.checked = true;
      hideEl.disabled = true;
      hideEl.parentElement.title = 'library frames were folded when the page was written';
    }
    /* A page folded by samplectl has no library runs left for the page to fold. */
    state.collapse = hideEl.checked && !m.collapsed;
    header();
    threads();
    minSamples = sigSamples = state.minShare * TOTAL;
    ROOT = makeRoot();
    ROOT.open = true;
    filterGen++;
    if (!TOTAL) setNotice('No samples yet.', true);
    autoExpand(ROOT, AUTO_ROWS);
    renderTree();
    select(ROOT, false);
    treeEl.focus({ preventScroll: true });
    const ready = performance.now();
    /* For tests and the curious: timings and a walk of what the page shows. */
    window.sampledPage = {
      renderMs: ready - t0,
      readyAt: ready,
      nodes: N - 1,
      state: state,
      snapshot: snapshot,
      flameBoxes: () => boxes.reduce((n, row) => n + (row ? row.length : 0), 0),
      setMinShare: (share) => {
        state.minShare = share;
        thrEl.value = shareToSlider(share);
        showThreshold();
        refresh({ rebuild: true, search: true });
      },
    };
    document.body.dataset.ready = '1';
  }

  boot();
})();
