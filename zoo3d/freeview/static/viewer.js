// zoo3d's free-view viewer: the cached manifolds (a glTF file of textured layers) drawn with three.js.
// Layers are blended back to front in the file's draw order with GRAM's rule (c = a c_layer + (1 - a) c),
// on raw texture values (no colour-space conversion), so a view matches `zoo3d render --cached`.
// Test hooks: ?yaw=&pitch= (radians) set the first view, ?size= the canvas side in pixels, ?seed= the first
// instance of a run (the server checks it, as the seed box's); window.zoo3dViewer
// reports {ready, errors, frames, fps, seed} and document.body.dataset.state is "ready" after a frame is drawn.
import * as THREE from 'three';
import { GLTFLoader } from 'three/addons/loaders/GLTFLoader.js';

const state = { ready: false, errors: [], frames: 0, fps: 0, seed: null, yaw: 0, pitch: 0 };
window.zoo3dViewer = state;
window.addEventListener('error', (e) => state.errors.push(String(e.message || e)));
window.addEventListener('unhandledrejection', (e) => state.errors.push(String(e.reason)));

const params = new URLSearchParams(location.search);
const $ = (id) => document.getElementById(id);
const statusBox = $('status');
function say(text, isError = false) {
  statusBox.textContent = text;
  statusBox.classList.toggle('error', isError);
}

const info = await (await fetch('api/info')).json();
const prior = info.camera_prior;
// orbit within the prior (the server's CameraPrior.view_limits: mean +- 2 std for a Gaussian prior, the
// support of a uniform one, widened to take in an inversion's input view, pitch inside +-pi/2)
const limits = info.view_limits;
const clamp = (v, [lo, hi]) => Math.min(hi, Math.max(lo, v));
// a value that is not a finite number (?yaw=abc, ?size=) is no value: NaN showed "yaw NaN" on a 0 x 0 canvas
const numberParam = (name, fallback) => {
  const text = (params.get(name) ?? '').trim();
  const value = text === '' ? NaN : Number(text);
  return Number.isFinite(value) ? value : fallback;
};
// open at the centre view: the prior's (for CARLA's area-uniform prior, pitch 0.556, not the raw pitch_mean), or an
// inversion's input view
state.yaw = clamp(numberParam('yaw', info.centre_view.yaw), limits.yaw);
state.pitch = clamp(numberParam('pitch', info.centre_view.pitch), limits.pitch);

const size = Math.max(64, Math.min(2048, Math.round(numberParam('size', 512))));
const canvas = $('canvas');
canvas.style.width = canvas.style.height = `${size}px`;
THREE.ColorManagement.enabled = false;
const renderer = new THREE.WebGLRenderer({ canvas, antialias: false, preserveDrawingBuffer: true });
renderer.setPixelRatio(1);
renderer.setSize(size, size, false);
renderer.outputColorSpace = THREE.LinearSRGBColorSpace;
const scene = new THREE.Scene();
scene.background = new THREE.Color(0, 0, 0);
const camera = new THREE.PerspectiveCamera(prior.fov, 1, 0.05, 100);

function placeCamera() {
  // zoo3d's angles: eye = r (-cos(pitch) sin(yaw), sin(pitch), cos(pitch) cos(yaw)), looking at the origin, y up
  const { yaw, pitch } = state;
  const r = prior.radius;
  camera.position.set(-r * Math.cos(pitch) * Math.sin(yaw), r * Math.sin(pitch), r * Math.cos(pitch) * Math.cos(yaw));
  camera.up.set(0, 1, 0);
  camera.lookAt(0, 0, 0);
  $('pose').textContent = `yaw ${state.yaw.toFixed(2)}  pitch ${state.pitch.toFixed(2)}`;
}

let content = null;
const loader = new GLTFLoader();

function prepare(root) {
  root.traverse((obj) => {
    if (!obj.isMesh) return;
    let node = obj;
    while (node && !(node.userData && node.userData.zoo3d)) node = node.parent;
    const meta = node ? node.userData.zoo3d : {};
    obj.renderOrder = meta.draw_order ?? 0;
    const materials = Array.isArray(obj.material) ? obj.material : [obj.material];
    for (const m of materials) {
      if (m.map) { m.map.colorSpace = THREE.NoColorSpace; m.map.needsUpdate = true; }
      m.side = THREE.FrontSide;
      // depth writes on: a layer's triangles come nearest first, so where it folds only its first surface blends
      m.depthWrite = true;
      m.needsUpdate = true;
    }
  });
}

async function show(seed) {
  say(seed === null ? 'loading…' : `generating seed ${seed}…`);
  const url = seed === null ? 'scene.glb' : `scene.glb?seed=${encodeURIComponent(seed)}`;
  const response = await fetch(url);
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try { message = (await response.json()).error || message; } catch (_) { /* not JSON */ }
    say(message, true);
    return;
  }
  const gltf = await loader.parseAsync(await response.arrayBuffer(), '');
  prepare(gltf.scene);
  if (content) {
    scene.remove(content);
    content.traverse((obj) => { if (obj.isMesh) { obj.geometry.dispose(); obj.material.map?.dispose(); obj.material.dispose(); } });
  }
  content = gltf.scene;
  scene.add(content);
  const meta = (gltf.asset.extras && gltf.asset.extras.zoo3d) || {};
  scene.background = new THREE.Color(...(meta.backdrop ?? [0, 0, 0]));  // the model's white background, if any
  state.seed = meta.seed ?? null;
  if (state.seed !== null) $('seed').value = state.seed;
  say([meta.model, meta.seed !== undefined ? `seed ${meta.seed}` : null, info.source].filter(Boolean).join(' · '));
}

// orbit: drag to turn, arrow keys for small steps; the pose stays within the prior's range
let drag = null;
canvas.addEventListener('pointerdown', (e) => { drag = { x: e.clientX, y: e.clientY }; canvas.setPointerCapture(e.pointerId); canvas.classList.add('dragging'); });
canvas.addEventListener('pointerup', (e) => { drag = null; canvas.releasePointerCapture(e.pointerId); canvas.classList.remove('dragging'); });
canvas.addEventListener('pointermove', (e) => {
  if (!drag) return;
  const perPixel = 2.5 / size;
  state.yaw = clamp(state.yaw + (e.clientX - drag.x) * perPixel, limits.yaw);
  state.pitch = clamp(state.pitch + (e.clientY - drag.y) * perPixel, limits.pitch);
  drag = { x: e.clientX, y: e.clientY };
});
window.addEventListener('keydown', (e) => {
  if (e.target.tagName === 'INPUT') return;
  const step = 0.02;
  const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
  if (!moves[e.key]) return;
  state.yaw = clamp(state.yaw + moves[e.key][0], limits.yaw);
  state.pitch = clamp(state.pitch + moves[e.key][1], limits.pitch);
});

$('seed').disabled = $('go').disabled = !info.can_generate;
$('controls').addEventListener('submit', (e) => {
  e.preventDefault();
  // the seed goes to the server as typed, which says what is wrong with one that is not a whole number in range
  // (parseInt read "1e3" as seed 1); the box's value is "" for what it cannot read as a number at all
  const seed = $('seed').value.trim();
  if (seed === '') { say('seed must be a whole number >= 0', true); return; }
  show(seed).catch((err) => { state.errors.push(String(err)); say(String(err), true); });
});

let windowStart = performance.now();
let windowFrames = 0;
function frame(now) {
  placeCamera();
  renderer.render(scene, camera);
  state.frames += 1;
  windowFrames += 1;
  if (now - windowStart >= 500) {
    state.fps = (1000 * windowFrames) / (now - windowStart);
    $('fps').textContent = `${state.fps.toFixed(0)} fps`;
    windowStart = now;
    windowFrames = 0;
  }
  if (content && !state.ready) {
    state.ready = true;
    document.body.dataset.state = 'ready';
  }
  requestAnimationFrame(frame);
}

try {
  // ?seed= as typed too (parseInt opened "12abc" as seed 12 and refused "abc" as 'NaN'); an empty one is no seed
  const seed = (params.get('seed') ?? '').trim();
  await show(info.can_generate && seed !== '' ? seed : null);
} catch (err) {
  state.errors.push(String(err));
  say(String(err), true);
}
requestAnimationFrame(frame);
