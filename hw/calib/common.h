// Shared helpers for the llmsim calibration microbenchmarks (hw/calib/*.cu).
// Provenance header, CUDA error checks, medians, random fills.
#pragma once
#include <cuda_runtime.h>
#include <cstdio>
#include <cstdlib>
#include <cstdint>
#include <ctime>
#include <string>
#include <vector>
#include <algorithm>

#define CK(x) do { cudaError_t e_ = (x); if (e_ != cudaSuccess) { \
    fprintf(stderr, "%s:%d: CUDA error %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e_)); \
    exit(2); } } while (0)
#define CK_LAUNCH() CK(cudaGetLastError())

static inline double median_of(std::vector<double> v) {
    if (v.empty()) return 0.0;
    std::sort(v.begin(), v.end());
    size_t n = v.size();
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static inline std::string utc_now_iso() {
    time_t t = time(nullptr);
    struct tm g;
    gmtime_r(&t, &g);
    char buf[64];
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &g);
    return buf;
}

static inline std::string join_argv(int argc, char **argv) {
    std::string s;
    for (int i = 0; i < argc; i++) { if (i) s += ' '; s += argv[i]; }
    return s;
}

// Writes the '# key: value' provenance block every calibration table starts with.
// The driver string comes from LLMSIM_DRIVER (campaign.sh sets it from nvidia-smi);
// otherwise the CUDA driver API version is written.
static inline void write_provenance(FILE *f, const char *program, int argc, char **argv,
                                    const std::vector<std::string> &extra = {}) {
    int dev = 0; CK(cudaGetDevice(&dev));
    cudaDeviceProp p; CK(cudaGetDeviceProperties(&p, dev));
    int drv = 0, rt = 0; cudaDriverGetVersion(&drv); cudaRuntimeGetVersion(&rt);
    const char *dstr = getenv("LLMSIM_DRIVER");
    fprintf(f, "# gpu: %s\n", p.name);
    if (dstr && *dstr) fprintf(f, "# driver: %s\n", dstr);
    else fprintf(f, "# driver: cuda-driver-api-%d\n", drv);
    fprintf(f, "# cuda: runtime %d.%d (built with nvcc %d.%d)\n", rt / 1000, (rt % 1000) / 10,
            __CUDACC_VER_MAJOR__, __CUDACC_VER_MINOR__);
    fprintf(f, "# date: %s\n", utc_now_iso().c_str());
    fprintf(f, "# command: %s\n", join_argv(argc, argv).c_str());
    fprintf(f, "# source: measured by hw/calib/%s on the llmsim GPU machine\n", program);
    fprintf(f, "# sm_count: %d\n", p.multiProcessorCount);
    fprintf(f, "# l2_bytes: %d\n", p.l2CacheSize);
    for (auto &e : extra) fprintf(f, "# %s\n", e.c_str());
}

// splitmix-style hash, used to fill buffers with reproducible non-zero data
__host__ __device__ static inline uint32_t hash32(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    x ^= x >> 31;
    return (uint32_t)x;
}

// Spin the GPU for ~ms milliseconds so clocks are up before timing.
__global__ void calib_spin_kernel(float *out, int iters) {
    float a = threadIdx.x * 1e-3f, b = 1.0001f;
    for (int i = 0; i < iters; i++) a = a * b + 1e-7f;
    if (a == 12345.678f) out[threadIdx.x] = a;
}
static inline void gpu_warm(int ms) {
    float *d; CK(cudaMalloc(&d, 4096));
    cudaEvent_t a, b; CK(cudaEventCreate(&a)); CK(cudaEventCreate(&b));
    int dev = 0; CK(cudaGetDevice(&dev));
    cudaDeviceProp p; CK(cudaGetDeviceProperties(&p, dev));
    float el = 0; int iters = 1 << 16;
    CK(cudaEventRecord(a));
    while (el < ms) {
        calib_spin_kernel<<<p.multiProcessorCount * 4, 256>>>(d, iters);
        CK_LAUNCH();
        CK(cudaEventRecord(b)); CK(cudaEventSynchronize(b));
        CK(cudaEventElapsedTime(&el, a, b));
    }
    CK(cudaEventDestroy(a)); CK(cudaEventDestroy(b)); CK(cudaFree(d));
}
