// gemm_bench: cuBLASLt GEMM timings for the llmsim calibrated cost model.
//
// Layout is PyTorch's  y = x @ W.T : activations x (M x K, row-major) times a weight
// W (N x K, row-major), output y (M x N, row-major).  In cuBLAS's column-major terms
// that is  y^T (N x M) = op_T(W) (N x K) * x^T (K x M), i.e. the "TN" call with
// m = N, n = M, k = K -- the call torch.mm(x, W.t()) makes, and the one FP8 needs.
//
//   bf16: A,B,C,D bf16, fp32 accumulate (CUBLAS_COMPUTE_32F), scale type fp32
//   fp8 : A,B e4m3, C,D bf16, fp32 accumulate, per-tensor A/B scale pointers
//
// Algorithm: cublasLtMatmulAlgoGetHeuristic top-1 with a 32 MiB workspace, as PyTorch.
// Cold weights: each shape rotates over enough distinct (A,B,C) sets that their total
// exceeds --l2-mult x L2 (default 2.5), so no operand stays in L2 between reps.
// Timing: a CUDA graph of R back-to-back GEMMs (R a multiple of the number of sets,
// about --target-us of work), replayed --trials times with CUDA events; median/R.
//
// usage: gemm_bench --dtype bf16|fp8 --shapes FILE --out FILE
//                   [--trials 7] [--target-us 1500] [--l2-mult 2.5] [--fast-accum 0|1]
//                   [--fill uniform|normal]   (bf16 operand values; default uniform [-1,1))
// FILE: lines "m n k" ('#' comments allowed).
#include "common.h"
#include <cublasLt.h>
#include <cuda_bf16.h>
#include <cuda_fp8.h>
#include <cstring>

#define CKL(x) do { cublasStatus_t s_ = (x); if (s_ != CUBLAS_STATUS_SUCCESS) { \
    fprintf(stderr, "%s:%d: cuBLAS error %s: %d\n", __FILE__, __LINE__, #x, (int)s_); \
    exit(3); } } while (0)

struct Shape { long m, n, k; };

// normal = 0: uniform in [-1, 1); normal = 1: standard normal (Box-Muller), like torch.randn
__global__ void fill_bf16(__nv_bfloat16 *p, size_t n, uint64_t seed, int normal) {
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x, st = (size_t)gridDim.x * blockDim.x;
    for (; i < n; i += st) {
        float u = (hash32(seed ^ (i * 0x100000001B3ull)) + 0.5f) * (1.0f / 4294967296.0f);
        float v = u * 2.0f - 1.0f;
        if (normal) {
            float u2 = (hash32((seed + 77) ^ (i * 0x9E3779B97F4A7C15ull)) + 0.5f) * (1.0f / 4294967296.0f);
            v = sqrtf(-2.0f * logf(u)) * cospif(2.0f * u2);
        }
        p[i] = __float2bfloat16(v);
    }
}
__global__ void fill_fp8(__nv_fp8_e4m3 *p, size_t n, uint64_t seed) {
    size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x, st = (size_t)gridDim.x * blockDim.x;
    for (; i < n; i += st) {
        float v = (hash32(seed ^ (i * 0x100000001B3ull)) * (1.0f / 4294967296.0f)) * 8.0f - 4.0f;
        p[i] = __nv_fp8_e4m3(v);
    }
}

static size_t al256(size_t x) { return (x + 255) & ~(size_t)255; }

int main(int argc, char **argv) {
    std::string dtype = "bf16", shapes_path, out_path;
    int trials = 7, fast_accum = 1, fill_normal = 0;
    double target_us = 1500, l2_mult = 2.5;
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        auto nxt = [&]() -> const char * { if (i + 1 >= argc) { fprintf(stderr, "missing value for %s\n", a.c_str()); exit(1); } return argv[++i]; };
        if (a == "--dtype") dtype = nxt();
        else if (a == "--shapes") shapes_path = nxt();
        else if (a == "--out") out_path = nxt();
        else if (a == "--trials") trials = atoi(nxt());
        else if (a == "--target-us") target_us = atof(nxt());
        else if (a == "--l2-mult") l2_mult = atof(nxt());
        else if (a == "--fast-accum") fast_accum = atoi(nxt());
        else if (a == "--fill") fill_normal = std::string(nxt()) == "normal";
        else { fprintf(stderr, "unknown argument %s\n", a.c_str()); return 1; }
    }
    if (shapes_path.empty() || out_path.empty() || (dtype != "bf16" && dtype != "fp8")) {
        fprintf(stderr, "usage: gemm_bench --dtype bf16|fp8 --shapes FILE --out FILE [--trials N] [--target-us US] [--l2-mult X] [--fast-accum 0|1]\n");
        return 1;
    }
    const bool fp8 = dtype == "fp8";
    const size_t esz = fp8 ? 1 : 2;

    std::vector<Shape> shapes;
    {
        FILE *f = fopen(shapes_path.c_str(), "r");
        if (!f) { perror(shapes_path.c_str()); return 1; }
        char line[256];
        while (fgets(line, sizeof line, f)) {
            if (line[0] == '#') continue;
            Shape s;
            if (sscanf(line, "%ld %ld %ld", &s.m, &s.n, &s.k) == 3 && s.m > 0 && s.n > 0 && s.k > 0) shapes.push_back(s);
        }
        fclose(f);
    }
    fprintf(stderr, "gemm_bench: %zu shapes, dtype %s\n", shapes.size(), dtype.c_str());

    cudaDeviceProp prop; CK(cudaGetDeviceProperties(&prop, 0));
    const double l2 = prop.l2CacheSize;
    auto set_bytes = [&](const Shape &s) { return al256(s.m * s.k * esz) + al256(s.n * s.k * esz) + al256(s.m * s.n * 2); };
    auto nsets_of = [&](const Shape &s) {
        double sb = (double)set_bytes(s);
        long n = (long)ceil(l2_mult * l2 / sb);
        return std::max(2L, std::min(n, 256L));
    };
    size_t arena_bytes = 0;
    for (auto &s : shapes) arena_bytes = std::max(arena_bytes, (size_t)nsets_of(s) * set_bytes(s));
    size_t freeb, totb; CK(cudaMemGetInfo(&freeb, &totb));
    fprintf(stderr, "arena %.2f GiB (free %.2f GiB)\n", arena_bytes / 1073741824.0, freeb / 1073741824.0);
    if (arena_bytes + (256ull << 20) > freeb) { fprintf(stderr, "not enough device memory for the largest shape\n"); return 1; }
    char *arena; CK(cudaMalloc(&arena, arena_bytes));
    if (fp8) fill_fp8<<<prop.multiProcessorCount * 8, 256>>>((__nv_fp8_e4m3 *)arena, arena_bytes, 1234);
    else fill_bf16<<<prop.multiProcessorCount * 8, 256>>>((__nv_bfloat16 *)arena, arena_bytes / 2, 1234, fill_normal);
    CK_LAUNCH();
    const size_t ws_bytes = 32ull << 20;
    void *ws; CK(cudaMalloc(&ws, ws_bytes));
    // per-tensor scales: each on its own 256-byte line (cuBLASLt refuses fp8 matmuls
    // whose scale pointers are not 16-byte aligned)
    float *scales; CK(cudaMalloc(&scales, 128 * sizeof(float)));
    float hs[128];
    for (int i = 0; i < 128; i++) hs[i] = 1.0f;
    CK(cudaMemcpy(scales, hs, sizeof hs, cudaMemcpyHostToDevice));

    cublasLtHandle_t lt; CKL(cublasLtCreate(&lt));
    cudaStream_t st; CK(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
    cudaEvent_t e0, e1; CK(cudaEventCreate(&e0)); CK(cudaEventCreate(&e1));
    CK(cudaDeviceSynchronize());
    gpu_warm(300);

    FILE *out = fopen(out_path.c_str(), "w");
    if (!out) { perror(out_path.c_str()); return 1; }
    char tmp[512];
    std::vector<std::string> extra;
    snprintf(tmp, sizeof tmp, "dtype: %s", fp8 ? "fp8 e4m3 A,B; bf16 C,D; fp32 accumulate; per-tensor A/B scale (1.0)" : "bf16 A,B,C,D; fp32 accumulate");
    extra.push_back(tmp);
    if (fp8) { snprintf(tmp, sizeof tmp, "fp8_fast_accum: %d", fast_accum); extra.push_back(tmp); }
    else { snprintf(tmp, sizeof tmp, "fill: %s", fill_normal ? "standard normal" : "uniform [-1,1)"); extra.push_back(tmp); }
    extra.push_back("layout: y[M,N] = x[M,K] @ W[N,K]^T (PyTorch linear), cuBLASLt TN, m=N n=M k=K");
    extra.push_back("algo: cublasLtMatmulAlgoGetHeuristic top-1, workspace 33554432 bytes");
    snprintf(tmp, sizeof tmp, "cold: each shape rotates over >= %.1f x L2 of distinct A/B/C sets (2..256 sets)", l2_mult);
    extra.push_back(tmp);
    snprintf(tmp, sizeof tmp, "timing: CUDA graph of back-to-back GEMMs (~%.0f us per replay), median of %d replays, divided by GEMMs per replay", target_us, trials);
    extra.push_back(tmp);
    write_provenance(out, "gemm_bench.cu", argc, argv, extra);
    fprintf(out, "m,n,k,time_us\n");
    fflush(out);

    const cudaDataType_t ab_t = fp8 ? CUDA_R_8F_E4M3 : CUDA_R_16BF;
    int done = 0, skipped = 0, fallbacks = 0;
    for (auto &s : shapes) {
        const int nsets = (int)nsets_of(s);
        const size_t sb = set_bytes(s);
        std::vector<void *> A(nsets), B(nsets), C(nsets);
        for (int i = 0; i < nsets; i++) {
            char *base = arena + (size_t)i * sb;
            A[i] = base;                                   // weight W: N x K
            B[i] = base + al256(s.n * s.k * esz);          // activations x: M x K
            C[i] = base + al256(s.n * s.k * esz) + al256(s.m * s.k * esz);  // y: M x N
        }
        cublasLtMatmulDesc_t op;
        CKL(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
        cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
        CKL(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
        CKL(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
        if (fp8) {
            const float *sa = scales, *sbp = scales + 64;
            CKL(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &sa, sizeof sa));
            CKL(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &sbp, sizeof sbp));
            int8_t fa = (int8_t)fast_accum;
            CKL(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_FAST_ACCUM, &fa, sizeof fa));
        }
        cublasLtMatrixLayout_t Ad, Bd, Cd;
        CKL(cublasLtMatrixLayoutCreate(&Ad, ab_t, s.k, s.n, s.k));
        CKL(cublasLtMatrixLayoutCreate(&Bd, ab_t, s.k, s.m, s.k));
        CKL(cublasLtMatrixLayoutCreate(&Cd, CUDA_R_16BF, s.n, s.m, s.n));
        cublasLtMatmulPreference_t pref;
        CKL(cublasLtMatmulPreferenceCreate(&pref));
        uint64_t wsb = ws_bytes;
        CKL(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &wsb, sizeof wsb));
        // PyTorch takes the heuristic's top-1; we ask for 8 so that, should the top-1 be
        // refused at run time (seen for fp8), the next one is used and the fallback logged.
        cublasLtMatmulHeuristicResult_t cand[8];
        int nres = 0;
        cublasStatus_t hs_ = cublasLtMatmulAlgoGetHeuristic(lt, op, Ad, Bd, Cd, Cd, pref, 8, cand, &nres);
        const float alpha = 1.0f, beta = 0.0f;
        int chosen = -1;
        if (hs_ == CUBLAS_STATUS_SUCCESS) {
            for (int c = 0; c < nres && chosen < 0; c++) {
                if (cand[c].state != CUBLAS_STATUS_SUCCESS || cand[c].workspaceSize > ws_bytes) continue;
                cublasStatus_t ms = cublasLtMatmul(lt, op, &alpha, A[0], Ad, B[0], Bd, &beta, C[0], Cd, C[0], Cd,
                                                   &cand[c].algo, ws, ws_bytes, st);
                if (ms == CUBLAS_STATUS_SUCCESS && cudaStreamSynchronize(st) == cudaSuccess) chosen = c;
                else {
                    (void)cudaGetLastError();
                    fprintf(stderr, "shape %ld %ld %ld: heuristic #%d refused at run time (status %d)\n",
                            s.m, s.n, s.k, c, (int)ms);
                }
            }
        }
        if (chosen > 0) { fallbacks++; fprintf(stderr, "shape %ld %ld %ld: using heuristic #%d\n", s.m, s.n, s.k, chosen); }
        if (chosen < 0) {
            fprintf(stderr, "skip %ld %ld %ld: no runnable algorithm (heuristic status %d, %d results)\n", s.m, s.n, s.k, (int)hs_, nres);
            skipped++;
        } else {
            cublasLtMatmulHeuristicResult_t res = cand[chosen];
            auto call = [&](int i, cudaStream_t stream) {
                CKL(cublasLtMatmul(lt, op, &alpha, A[i], Ad, B[i], Bd, &beta, C[i], Cd, C[i], Cd,
                                   &res.algo, ws, ws_bytes, stream));
            };
            // warm (all sets once), then an eager estimate
            for (int i = 0; i < nsets; i++) call(i, st);
            int ne = std::max(nsets, 3);
            CK(cudaEventRecord(e0, st));
            for (int i = 0; i < ne; i++) call(i % nsets, st);
            CK(cudaEventRecord(e1, st));
            CK(cudaEventSynchronize(e1));
            float el; CK(cudaEventElapsedTime(&el, e0, e1));
            double est_us = el * 1000.0 / ne;
            long R = (long)ceil(target_us / std::max(est_us, 0.5));
            R = std::max(R, 2L);
            R = ((R + nsets - 1) / nsets) * nsets;
            R = std::min(R, std::max(2000L / nsets, 1L) * nsets);
            cudaGraph_t g; cudaGraphExec_t ge;
            CK(cudaStreamBeginCapture(st, cudaStreamCaptureModeThreadLocal));
            for (long r = 0; r < R; r++) call((int)(r % nsets), st);
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
            CK(cudaGraphExecDestroy(ge));
            CK(cudaGraphDestroy(g));
            fprintf(out, "%ld,%ld,%ld,%.3f\n", s.m, s.n, s.k, median_of(t));
            fflush(out);
            done++;
        }
        cublasLtMatmulPreferenceDestroy(pref);
        cublasLtMatrixLayoutDestroy(Ad); cublasLtMatrixLayoutDestroy(Bd); cublasLtMatrixLayoutDestroy(Cd);
        cublasLtMatmulDescDestroy(op);
    }
    CK(cudaDeviceSynchronize());
    fclose(out);
    fprintf(stderr, "gemm_bench %s: %d shapes timed, %d skipped, %d not on heuristic #0\n", dtype.c_str(), done, skipped, fallbacks);
    return 0;
}
