// membw: device-memory read, write and copy time vs size (4 KiB .. 4 GiB by default).
//
// Kernels use 16-byte accesses in a grid-stride loop (4 loads in flight per thread).
// Cold: for sizes under --l2-mult x L2, each launch works on a different region of a
// larger buffer (rotating), so the data is not in L2.  Timing: a CUDA graph of R
// back-to-back launches (about --target-us per replay), median of --trials replays / R.
// So a row includes the kernel's fixed cost inside a graph, which is what an engine sees.
//
// Output columns: op,bytes,time_us,gb_s with op in read|write|copy.  'bytes' is the
// size of the buffer read, written or copied; gb_s counts bytes moved through memory
// (copy moves 2*bytes: read + write), in 1e9 bytes per second.
//
// usage: membw --out FILE [--min 4096] [--max 4294967296] [--trials 7] [--target-us 2000]
#include "common.h"
#include <cmath>

__global__ void k_read(const uint4 *__restrict__ src, size_t n, uint4 *sink) {
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x, st = (size_t)gridDim.x * blockDim.x;
    uint32_t acc = 0;
    for (; i + 3 * st < n; i += 4 * st) {
        uint4 a = src[i], b = src[i + st], c = src[i + 2 * st], d = src[i + 3 * st];
        acc ^= a.x ^ a.y ^ a.z ^ a.w ^ b.x ^ b.y ^ b.z ^ b.w ^ c.x ^ c.y ^ c.z ^ c.w ^ d.x ^ d.y ^ d.z ^ d.w;
    }
    for (; i < n; i += st) { uint4 a = src[i]; acc ^= a.x ^ a.y ^ a.z ^ a.w; }
    if (acc == 0x9E3779B9u) sink[0] = make_uint4(acc, acc, acc, acc);
}
__global__ void k_write(uint4 *__restrict__ dst, size_t n, uint32_t v) {
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x, st = (size_t)gridDim.x * blockDim.x;
    uint4 w = make_uint4(v, v ^ 1, v ^ 2, v ^ 3);
    for (; i < n; i += st) dst[i] = w;
}
__global__ void k_copy(const uint4 *__restrict__ src, uint4 *__restrict__ dst, size_t n) {
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x, st = (size_t)gridDim.x * blockDim.x;
    for (; i + 3 * st < n; i += 4 * st) {
        uint4 a = src[i], b = src[i + st], c = src[i + 2 * st], d = src[i + 3 * st];
        dst[i] = a; dst[i + st] = b; dst[i + 2 * st] = c; dst[i + 3 * st] = d;
    }
    for (; i < n; i += st) dst[i] = src[i];
}
__global__ void k_fill(uint32_t *p, size_t n) {
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x, st = (size_t)gridDim.x * blockDim.x;
    for (; i < n; i += st) p[i] = hash32(i);
}

int main(int argc, char **argv) {
    std::string out_path;
    size_t mn = 4096, mx = 4ull << 30;
    int trials = 7;
    double target_us = 2000, l2_mult = 2.5;
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        auto nxt = [&]() -> const char * { if (i + 1 >= argc) { fprintf(stderr, "missing value\n"); exit(1); } return argv[++i]; };
        if (a == "--out") out_path = nxt();
        else if (a == "--min") mn = strtoull(nxt(), 0, 10);
        else if (a == "--max") mx = strtoull(nxt(), 0, 10);
        else if (a == "--trials") trials = atoi(nxt());
        else if (a == "--target-us") target_us = atof(nxt());
        else { fprintf(stderr, "unknown argument %s\n", a.c_str()); return 1; }
    }
    if (out_path.empty()) { fprintf(stderr, "usage: membw --out FILE [--min B] [--max B] [--trials N] [--target-us US]\n"); return 1; }
    cudaDeviceProp prop; CK(cudaGetDeviceProperties(&prop, 0));
    const double l2 = prop.l2CacheSize;
    // sizes: 2^k and 3*2^(k-1) between mn and mx
    std::vector<size_t> sizes;
    for (size_t s = 4096; s <= mx; s *= 2) {
        if (s >= mn) sizes.push_back(s);
        size_t t = s + s / 2;
        if (t >= mn && t <= mx && t < 2 * s) sizes.push_back(t);
    }
    std::sort(sizes.begin(), sizes.end());
    sizes.erase(std::unique(sizes.begin(), sizes.end()), sizes.end());
    // region pool: at least max(2*mx, 4*l2_mult*L2) bytes (src half + dst half)
    size_t rot_bytes = (size_t)(l2_mult * l2 * 2);
    size_t pool = std::max(2 * mx, 2 * rot_bytes) + (1 << 20);
    char *buf; CK(cudaMalloc(&buf, pool));
    uint4 *sink; CK(cudaMalloc(&sink, 64));
    k_fill<<<prop.multiProcessorCount * 8, 256>>>((uint32_t *)buf, pool / 4); CK_LAUNCH();
    cudaStream_t st; CK(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
    cudaEvent_t e0, e1; CK(cudaEventCreate(&e0)); CK(cudaEventCreate(&e1));
    CK(cudaDeviceSynchronize());
    gpu_warm(300);

    FILE *out = fopen(out_path.c_str(), "w");
    if (!out) { perror(out_path.c_str()); return 1; }
    char tmp[256];
    std::vector<std::string> extra;
    extra.push_back("kernels: 16-byte loads/stores, grid-stride, 256 threads, blocks = min(ceil(n16/256), 8*SMs)");
    snprintf(tmp, sizeof tmp, "cold: sizes under %.1f x L2 rotate over distinct regions", l2_mult);
    extra.push_back(tmp);
    extra.push_back("gb_s: bytes moved (copy = 2*bytes) / time, 1e9 B/s; time_us per launch inside a CUDA graph");
    write_provenance(out, "membw.cu", argc, argv, extra);
    fprintf(out, "op,bytes,time_us,gb_s\n");

    const char *ops[3] = {"read", "write", "copy"};
    const size_t half = pool / 2;
    for (int op = 0; op < 3; op++) {
        for (size_t sz : sizes) {
            size_t n16 = sz / 16;
            int nreg = (int)std::max<double>(1.0, std::min<double>(256.0, ceil(l2_mult * l2 / sz)));
            size_t stride = (sz + 4095) & ~(size_t)4095;
            while (nreg > 1 && (size_t)nreg * stride > half) nreg--;
            int threads = 256;
            size_t blocks = std::min<size_t>((n16 + threads - 1) / threads, (size_t)prop.multiProcessorCount * 8);
            if (blocks < 1) blocks = 1;
            auto launch = [&](int r, cudaStream_t s) {
                uint4 *a = (uint4 *)(buf + (size_t)r * stride);
                uint4 *b = (uint4 *)(buf + half + (size_t)r * stride);
                if (op == 0) k_read<<<blocks, threads, 0, s>>>(a, n16, sink);
                else if (op == 1) k_write<<<blocks, threads, 0, s>>>(b, n16, (uint32_t)r);
                else k_copy<<<blocks, threads, 0, s>>>(a, b, n16);
            };
            for (int r = 0; r < nreg; r++) launch(r, st);
            CK_LAUNCH();
            int ne = std::max(nreg, 3);
            CK(cudaEventRecord(e0, st));
            for (int r = 0; r < ne; r++) launch(r % nreg, st);
            CK(cudaEventRecord(e1, st));
            CK(cudaEventSynchronize(e1));
            float el; CK(cudaEventElapsedTime(&el, e0, e1));
            double est = el * 1000.0 / ne;
            long R = (long)ceil(target_us / std::max(est, 0.5));
            R = std::max(R, 2L);
            R = ((R + nreg - 1) / nreg) * nreg;
            R = std::min(R, std::max(2000L / nreg, 1L) * nreg);
            cudaGraph_t g; cudaGraphExec_t ge;
            CK(cudaStreamBeginCapture(st, cudaStreamCaptureModeThreadLocal));
            for (long r = 0; r < R; r++) launch((int)(r % nreg), st);
            CK(cudaStreamEndCapture(st, &g));
            CK(cudaGraphInstantiate(&ge, g, 0));
            CK(cudaGraphLaunch(ge, st));
            std::vector<double> t;
            for (int tr = 0; tr < trials; tr++) {
                CK(cudaEventRecord(e0, st));
                CK(cudaGraphLaunch(ge, st));
                CK(cudaEventRecord(e1, st));
                CK(cudaEventSynchronize(e1));
                CK(cudaEventElapsedTime(&el, e0, e1));
                t.push_back(el * 1000.0 / R);
            }
            CK(cudaGraphExecDestroy(ge)); CK(cudaGraphDestroy(g));
            double us = median_of(t);
            double moved = (op == 2 ? 2.0 : 1.0) * (double)sz;
            fprintf(out, "%s,%zu,%.3f,%.2f\n", ops[op], sz, us, moved / (us * 1e-6) / 1e9);
            fflush(out);
        }
    }
    fclose(out);
    fprintf(stderr, "membw: %zu sizes x 3 ops done\n", sizes.size());
    return 0;
}
