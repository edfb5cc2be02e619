// Causal grouped-query attention of one query row over one chunk of its positions.
// Workgroup (row, split), row = token * heads + head: the query q[row] (head_dim floats) against
// keys and values of KV head `head / (heads / kv_heads)` at positions
// [split * chunk, min((split + 1) * chunk, start_pos + token + 1)).
// Positions are walked in tiles of 128 with an online softmax (running max m, running sum l,
// running weighted sum acc, rescaled by exp(m_old - m_new) when the max grows), so shared memory
// stays fixed whatever the context length.
// splits == 1: writes out[row] = acc / l. splits > 1: writes the partial (acc, m, l) for
// attention_combine_f32 (layout in kernels/push_constants_attention.hpp AttentionPush).
// Groups: x = tokens * heads, y = splits.
// Included by attention_f32.comp and, with POSITION_FROM_BUFFER, attention_at_f32.comp.
layout(local_size_x = 128) in;

layout(std430, set = 0, binding = 0) readonly buffer Q { float q[]; };
layout(std430, set = 0, binding = 1) readonly buffer K { float k[]; };
layout(std430, set = 0, binding = 2) readonly buffer V { float v[]; };
layout(std430, set = 0, binding = 3) writeonly buffer Out { float out_[]; };
#ifdef POSITION_FROM_BUFFER
layout(std430, set = 0, binding = 4) readonly buffer Position { uint position[]; };
#endif

layout(push_constant) uniform Push {
  uint tokens;
  uint heads;
  uint kv_heads;
  uint head_dim;
  uint start_pos;
  uint chunk;
  uint splits;
  uint q_offset;
  uint k_offset;
  uint v_offset;
  uint out_offset;
  float scale;
#ifdef POSITION_FROM_BUFFER
  uint position_offset;  // start_pos is then the largest position the buffer may name
#endif
} p;

uint start_position() {
#ifdef POSITION_FROM_BUFFER
  return min(position[p.position_offset], p.start_pos);
#else
  return p.start_pos;
#endif
}

const uint THREADS = 128;
const uint TILE = THREADS;  // positions per tile: one score per invocation
const uint MAX_DIM = 256;   // kernels::kMaxHeadDim
const uint DIMS = MAX_DIM / THREADS;  // output elements per invocation
#define NEG_INF uintBitsToFloat(0xff800000u)

shared float q_s[MAX_DIM];  // the query row, times scale
shared float w_s[TILE];     // the tile's scores, then their weights

void main() {
  const uint row = gl_WorkGroupID.x;
  const uint split = gl_WorkGroupID.y;
  if (row >= p.tokens * p.heads || split >= p.splits) return;  // uniform across the workgroup
  const uint lid = gl_LocalInvocationID.x;
  const uint dim = p.head_dim;
  const uint token = row / p.heads;
  const uint kv_head = (row % p.heads) / (p.heads / p.kv_heads);
  const uint kv_stride = p.kv_heads * dim;

  const uint context = start_position() + token + 1;  // positions this row attends to
  uint begin = context;
  uint end = context;
  if (p.chunk != 0 && split <= (context - 1) / p.chunk) {  // no 32-bit wrap of split * chunk
    begin = split * p.chunk;
    end = begin + min(p.chunk, context - begin);
  }

  for (uint d = lid; d < dim; d += THREADS) q_s[d] = q[p.q_offset + row * dim + d] * p.scale;
  barrier();

  float m = NEG_INF;
  float l = 0.0;
  float acc[DIMS];
  for (uint c = 0; c < DIMS; ++c) acc[c] = 0.0;

  for (uint tile = begin; tile < end; tile += TILE) {
    const uint count = min(TILE, end - tile);
    float score = NEG_INF;
    if (lid < count) {
      const uint base = p.k_offset + (tile + lid) * kv_stride + kv_head * dim;
      score = 0.0;
      for (uint d = 0; d < dim; ++d) score = fma(q_s[d], k[base + d], score);
    }
    w_s[lid] = score;
    barrier();
    float tile_max = NEG_INF;
    for (uint j = 0; j < count; ++j) tile_max = max(tile_max, w_s[j]);
    const float new_m = max(m, tile_max);
    barrier();  // every invocation has read the scores
    w_s[lid] = exp(score - new_m);  // exp(-inf) past `count`: never read
    barrier();
    // The first tile has m = -inf: nothing to rescale (and exp(-inf) is not bounded by Vulkan).
    const float rescale = m == NEG_INF ? 0.0 : exp(m - new_m);
    l *= rescale;
    for (uint c = 0; c < DIMS; ++c) acc[c] *= rescale;
    for (uint j = 0; j < count; ++j) {
      const float w = w_s[j];
      l += w;
      const uint base = p.v_offset + (tile + j) * kv_stride + kv_head * dim;
      for (uint c = 0; c < DIMS; ++c) {
        const uint d = lid + c * THREADS;
        if (d < dim) acc[c] = fma(w, v[base + d], acc[c]);
      }
    }
    m = new_m;
    barrier();  // every invocation has read the weights before the next tile writes them
  }

  if (p.splits == 1) {
    const float inv_l = 1.0 / l;
    for (uint c = 0; c < DIMS; ++c) {
      const uint d = lid + c * THREADS;
      if (d < dim) out_[p.out_offset + row * dim + d] = acc[c] * inv_l;
    }
    return;
  }
  const uint part = p.out_offset + (row * p.splits + split) * (dim + 2);
  for (uint c = 0; c < DIMS; ++c) {
    const uint d = lid + c * THREADS;
    if (d < dim) out_[part + d] = acc[c];
  }
  if (lid == 0) {
    out_[part + dim] = m;
    out_[part + dim + 1] = l;
  }
}
