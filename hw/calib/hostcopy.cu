// hostcopy: pinned host <-> device cudaMemcpyAsync time vs size.
//
// Pinned host memory (cudaHostAlloc), one stream, R copies back-to-back timed with CUDA
// events (R sized to ~--target-us per trial); median of --trials trials / R.
// Output: direction,bytes,time_us,gb_s (h2d|d2h; gb_s in 1e9 B/s).
//
// usage: hostcopy --out FILE [--min 4096] [--max 2147483648] [--trials 5] [--target-us 20000]
#include "common.h"
#include <cmath>

int main(int argc, char **argv) {
    std::string out_path;
    size_t mn = 4096, mx = 2ull << 30;
    int trials = 5;
    double target_us = 20000;
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
    if (out_path.empty()) { fprintf(stderr, "usage: hostcopy --out FILE [--min B] [--max B]\n"); return 1; }
    std::vector<size_t> sizes;
    for (size_t s = 4096; s <= mx; s *= 2) {
        if (s >= mn) sizes.push_back(s);
        size_t t = s + s / 2;
        if (t >= mn && t <= mx && t < 2 * s) sizes.push_back(t);
    }
    std::sort(sizes.begin(), sizes.end());
    char *h, *d;
    CK(cudaHostAlloc((void **)&h, mx, cudaHostAllocDefault));
    CK(cudaMalloc(&d, mx));
    for (size_t i = 0; i < mx; i += 4096) h[i] = (char)i;
    CK(cudaMemset(d, 1, mx));
    cudaStream_t st; CK(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
    cudaEvent_t e0, e1; CK(cudaEventCreate(&e0)); CK(cudaEventCreate(&e1));
    CK(cudaDeviceSynchronize());

    FILE *out = fopen(out_path.c_str(), "w");
    if (!out) { perror(out_path.c_str()); return 1; }
    write_provenance(out, "hostcopy.cu", argc, argv,
                     {"memory: pinned host buffer (cudaHostAlloc), device buffer (cudaMalloc), one stream",
                      "time_us: per cudaMemcpyAsync, back-to-back on one stream, median of trials"});
    fprintf(out, "direction,bytes,time_us,gb_s\n");
    const char *names[2] = {"h2d", "d2h"};
    for (int dir = 0; dir < 2; dir++) {
        for (size_t sz : sizes) {
            auto cp = [&]() {
                if (dir == 0) CK(cudaMemcpyAsync(d, h, sz, cudaMemcpyHostToDevice, st));
                else CK(cudaMemcpyAsync(h, d, sz, cudaMemcpyDeviceToHost, st));
            };
            cp(); cp();
            CK(cudaEventRecord(e0, st));
            for (int i = 0; i < 3; i++) cp();
            CK(cudaEventRecord(e1, st));
            CK(cudaEventSynchronize(e1));
            float el; CK(cudaEventElapsedTime(&el, e0, e1));
            double est = el * 1000.0 / 3;
            long R = std::max(1L, std::min(2000L, (long)ceil(target_us / std::max(est, 0.5))));
            std::vector<double> t;
            for (int tr = 0; tr < trials; tr++) {
                CK(cudaEventRecord(e0, st));
                for (long r = 0; r < R; r++) cp();
                CK(cudaEventRecord(e1, st));
                CK(cudaEventSynchronize(e1));
                CK(cudaEventElapsedTime(&el, e0, e1));
                t.push_back(el * 1000.0 / R);
            }
            double us = median_of(t);
            fprintf(out, "%s,%zu,%.3f,%.2f\n", names[dir], sz, us, sz / (us * 1e-6) / 1e9);
            fflush(out);
        }
    }
    fclose(out);
    CK(cudaFreeHost(h)); CK(cudaFree(d));
    fprintf(stderr, "hostcopy: %zu sizes x 2 directions done\n", sizes.size());
    return 0;
}
