// launch: fixed costs of launching work.
//   kernel_launch            empty kernel, stream launches back-to-back: GPU time per launch
//   kernel_launch_host       host (CPU) time of one cudaLaunchKernel call, back-to-back
//   kernel_launch_roundtrip  launch one empty kernel and cudaStreamSynchronize, host clock
//   graph_replay_empty       one replay of a graph holding a single empty kernel, back-to-back
//   graph_replay_host        host time of one cudaGraphLaunch call of that graph
//   graph_per_node           slope of replay time vs node count for chains of N tiny kernels
//   graph_nodes_<N>          replay time of a chain of N tiny kernels (N = 1,8,64,256,1024)
// Output: what,time_us (medians of --trials).
//
// usage: launch --out FILE [--trials 9]
#include "common.h"
#include <chrono>

__global__ void k_empty() {}
__global__ void k_tiny(float *p) { if (threadIdx.x == 0) p[blockIdx.x] += 1.0f; }

static double host_us() {
    return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

int main(int argc, char **argv) {
    std::string out_path;
    int trials = 9;
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        if (a == "--out" && i + 1 < argc) out_path = argv[++i];
        else if (a == "--trials" && i + 1 < argc) trials = atoi(argv[++i]);
        else { fprintf(stderr, "unknown argument %s\n", a.c_str()); return 1; }
    }
    if (out_path.empty()) { fprintf(stderr, "usage: launch --out FILE [--trials N]\n"); return 1; }
    cudaStream_t st; CK(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
    cudaEvent_t e0, e1; CK(cudaEventCreate(&e0)); CK(cudaEventCreate(&e1));
    float *d; CK(cudaMalloc(&d, 1 << 16)); CK(cudaMemset(d, 0, 1 << 16));
    gpu_warm(200);
    FILE *out = fopen(out_path.c_str(), "w");
    if (!out) { perror(out_path.c_str()); return 1; }
    write_provenance(out, "launch.cu", argc, argv,
                     {"kernel: empty kernel <<<1,32>>>; tiny kernel <<<1,32>>> adds 1.0f to one float",
                      "graph_per_node: least-squares slope of replay time over node counts 1..1024 (tiny kernels in a chain)"});
    fprintf(out, "what,time_us\n");
    float el;
    const int N = 20000;
    // warm
    for (int i = 0; i < 1000; i++) k_empty<<<1, 32, 0, st>>>();
    CK(cudaStreamSynchronize(st));
    {   // GPU time per back-to-back launch, and host time per launch call
        std::vector<double> tg, th;
        for (int tr = 0; tr < trials; tr++) {
            CK(cudaEventRecord(e0, st));
            double h0 = host_us();
            for (int i = 0; i < N; i++) k_empty<<<1, 32, 0, st>>>();
            double h1 = host_us();
            CK(cudaEventRecord(e1, st));
            CK(cudaEventSynchronize(e1));
            CK(cudaEventElapsedTime(&el, e0, e1));
            tg.push_back(el * 1000.0 / N);
            th.push_back((h1 - h0) / N);
        }
        CK_LAUNCH();
        fprintf(out, "kernel_launch,%.4f\n", median_of(tg));
        fprintf(out, "kernel_launch_host,%.4f\n", median_of(th));
    }
    {   // round trip: launch + synchronize
        std::vector<double> t;
        for (int tr = 0; tr < trials; tr++) {
            double h0 = host_us();
            for (int i = 0; i < 1000; i++) { k_empty<<<1, 32, 0, st>>>(); CK(cudaStreamSynchronize(st)); }
            t.push_back((host_us() - h0) / 1000);
        }
        fprintf(out, "kernel_launch_roundtrip,%.4f\n", median_of(t));
    }
    auto make_graph = [&](int nodes, bool empty) {
        cudaGraph_t g; cudaGraphExec_t ge;
        CK(cudaStreamBeginCapture(st, cudaStreamCaptureModeThreadLocal));
        for (int i = 0; i < nodes; i++) {
            if (empty) k_empty<<<1, 32, 0, st>>>();
            else k_tiny<<<1, 32, 0, st>>>(d + (i % 1024));
        }
        CK(cudaStreamEndCapture(st, &g));
        CK(cudaGraphInstantiate(&ge, g, 0));
        CK(cudaGraphDestroy(g));
        return ge;
    };
    auto time_graph = [&](cudaGraphExec_t ge, int reps, double *host_per) {
        for (int i = 0; i < 10; i++) CK(cudaGraphLaunch(ge, st));
        CK(cudaStreamSynchronize(st));
        std::vector<double> t, th;
        for (int tr = 0; tr < trials; tr++) {
            CK(cudaEventRecord(e0, st));
            double h0 = host_us();
            for (int i = 0; i < reps; i++) CK(cudaGraphLaunch(ge, st));
            double h1 = host_us();
            CK(cudaEventRecord(e1, st));
            CK(cudaEventSynchronize(e1));
            CK(cudaEventElapsedTime(&el, e0, e1));
            t.push_back(el * 1000.0 / reps);
            th.push_back((h1 - h0) / reps);
        }
        if (host_per) *host_per = median_of(th);
        return median_of(t);
    };
    {
        cudaGraphExec_t ge = make_graph(1, true);
        double hp;
        double t = time_graph(ge, 5000, &hp);
        fprintf(out, "graph_replay_empty,%.4f\n", t);
        fprintf(out, "graph_replay_host,%.4f\n", hp);
        CK(cudaGraphExecDestroy(ge));
    }
    {
        int ns[5] = {1, 8, 64, 256, 1024};
        double tx[5];
        for (int j = 0; j < 5; j++) {
            cudaGraphExec_t ge = make_graph(ns[j], false);
            tx[j] = time_graph(ge, std::max(20, 20000 / ns[j]), nullptr);
            CK(cudaGraphExecDestroy(ge));
        }
        double sx = 0, sy = 0, sxx = 0, sxy = 0;
        for (int j = 0; j < 5; j++) { sx += ns[j]; sy += tx[j]; sxx += (double)ns[j] * ns[j]; sxy += ns[j] * tx[j]; }
        double slope = (5 * sxy - sx * sy) / (5 * sxx - sx * sx);
        fprintf(out, "graph_per_node,%.4f\n", slope);
        for (int j = 0; j < 5; j++) fprintf(out, "graph_nodes_%d,%.4f\n", ns[j], tx[j]);
    }
    CK_LAUNCH();
    fclose(out);
    fprintf(stderr, "launch: done\n");
    return 0;
}
