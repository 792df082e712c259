/* cli/bench.h: `llmsim bench`. */
#ifndef LLM_BENCH_H
#define LLM_BENCH_H
int cmd_bench(int argc, char **argv);
#endif
