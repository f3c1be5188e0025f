/**
 * Draws a map's points with WebGL 1: one buffer of positions and one of colours, a single draw call
 * (100,000 points are one call, whatever the zoom); marked points (selected, hovered) are drawn again
 * on top, larger and ringed. Positions are map coordinates in [0, 1]; the view maps them to pixels.
 */
export interface MapViewport {
  /** The map point at the canvas centre. */
  centreX: number;
  centreY: number;
  /** Canvas pixels per map unit. */
  pixelsPerUnit: number;
}

const VERTEX = `
attribute vec2 position;
attribute vec3 colour;
uniform vec2 centre;
uniform vec2 scale;
uniform float size;
varying vec3 tint;
void main() {
  gl_Position = vec4((position.x - centre.x) * scale.x, -(position.y - centre.y) * scale.y, 0.0, 1.0);
  gl_PointSize = size;
  tint = colour;
}`;

const FRAGMENT = `
precision mediump float;
varying vec3 tint;
uniform float ring;
void main() {
  vec2 offset = gl_PointCoord - vec2(0.5);
  float r = length(offset) * 2.0;
  if (r > 1.0) discard;
  vec3 colour = ring > 0.5 && r > 0.62 ? vec3(1.0) : tint;
  gl_FragColor = vec4(colour, 1.0 - smoothstep(0.75, 1.0, r));
}`;

interface PointBuffers {
  position: WebGLBuffer;
  colour: WebGLBuffer;
  count: number;
}

export class PointsRenderer {
  private readonly gl: WebGLRenderingContext;
  private readonly program: WebGLProgram;
  private all: PointBuffers | null = null;
  private marked: PointBuffers | null = null;
  private readonly location: { position: number; colour: number; centre: WebGLUniformLocation; scale: WebGLUniformLocation; size: WebGLUniformLocation; ring: WebGLUniformLocation };

  constructor(private readonly canvas: HTMLCanvasElement) {
    // No multisampling: the round points are cut in the shader, and without a GPU (SwiftShader) it costs 4× the fragments.
    const gl = canvas.getContext('webgl', { antialias: false, preserveDrawingBuffer: false, alpha: false });
    if (!gl) throw new Error('this browser cannot draw the map: WebGL is not available');
    this.gl = gl;
    this.program = link(gl, VERTEX, FRAGMENT);
    const uniform = (name: string) => gl.getUniformLocation(this.program, name)!;
    this.location = {
      position: gl.getAttribLocation(this.program, 'position'),
      colour: gl.getAttribLocation(this.program, 'colour'),
      centre: uniform('centre'),
      scale: uniform('scale'),
      size: uniform('size'),
      ring: uniform('ring'),
    };
  }

  /** Positions x, y in [0, 1] one pair after another, colours r, g, b in 0-255. */
  setPoints(positions: Float32Array, colours: Uint8Array): void {
    this.all = this.upload(this.all, positions, colours);
  }

  setMarked(positions: Float32Array, colours: Uint8Array): void {
    this.marked = this.upload(this.marked, positions, colours);
  }

  /** Draws at the canvas's current size; `pointSize` in canvas pixels. */
  draw(view: MapViewport, pointSize: number, background: [number, number, number]): void {
    const { gl, canvas } = this;
    gl.viewport(0, 0, canvas.width, canvas.height);
    gl.clearColor(background[0] / 255, background[1] / 255, background[2] / 255, 1);
    gl.clear(gl.COLOR_BUFFER_BIT);
    gl.useProgram(this.program);
    // Soft edges by blending (see FRAGMENT) instead of multisampling.
    gl.enable(gl.BLEND);
    gl.blendFunc(gl.SRC_ALPHA, gl.ONE_MINUS_SRC_ALPHA);
    gl.uniform2f(this.location.centre, view.centreX, view.centreY);
    gl.uniform2f(this.location.scale, (2 * view.pixelsPerUnit) / canvas.width, (2 * view.pixelsPerUnit) / canvas.height);
    this.drawPoints(this.all, pointSize, false);
    this.drawPoints(this.marked, Math.max(pointSize * 2.2, 9), true);
  }

  dispose(): void {
    for (const buffers of [this.all, this.marked]) {
      if (buffers) {
        this.gl.deleteBuffer(buffers.position);
        this.gl.deleteBuffer(buffers.colour);
      }
    }
    this.gl.deleteProgram(this.program);
  }

  private drawPoints(buffers: PointBuffers | null, size: number, ring: boolean): void {
    if (!buffers || buffers.count === 0) return;
    const { gl, location } = this;
    gl.uniform1f(location.size, size);
    gl.uniform1f(location.ring, ring ? 1 : 0);
    gl.bindBuffer(gl.ARRAY_BUFFER, buffers.position);
    gl.enableVertexAttribArray(location.position);
    gl.vertexAttribPointer(location.position, 2, gl.FLOAT, false, 0, 0);
    gl.bindBuffer(gl.ARRAY_BUFFER, buffers.colour);
    gl.enableVertexAttribArray(location.colour);
    gl.vertexAttribPointer(location.colour, 3, gl.UNSIGNED_BYTE, true, 0, 0);
    gl.drawArrays(gl.POINTS, 0, buffers.count);
  }

  private upload(existing: PointBuffers | null, positions: Float32Array, colours: Uint8Array): PointBuffers {
    const { gl } = this;
    const buffers = existing ?? { position: gl.createBuffer()!, colour: gl.createBuffer()!, count: 0 };
    gl.bindBuffer(gl.ARRAY_BUFFER, buffers.position);
    gl.bufferData(gl.ARRAY_BUFFER, positions, gl.STATIC_DRAW);
    gl.bindBuffer(gl.ARRAY_BUFFER, buffers.colour);
    gl.bufferData(gl.ARRAY_BUFFER, colours, gl.STATIC_DRAW);
    buffers.count = positions.length / 2;
    return buffers;
  }
}

function link(gl: WebGLRenderingContext, vertex: string, fragment: string): WebGLProgram {
  const program = gl.createProgram()!;
  for (const [type, source] of [
    [gl.VERTEX_SHADER, vertex],
    [gl.FRAGMENT_SHADER, fragment],
  ] as const) {
    const shader = gl.createShader(type)!;
    gl.shaderSource(shader, source);
    gl.compileShader(shader);
    if (!gl.getShaderParameter(shader, gl.COMPILE_STATUS)) throw new Error(`map shader: ${gl.getShaderInfoLog(shader) ?? 'does not compile'}`);
    gl.attachShader(program, shader);
  }
  gl.linkProgram(program);
  if (!gl.getProgramParameter(program, gl.LINK_STATUS)) throw new Error(`map shaders: ${gl.getProgramInfoLog(program) ?? 'do not link'}`);
  return program;
}
