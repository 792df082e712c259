/* base/version.h: the llmsim version, recorded in every results database. */
#ifndef LLM_VERSION_H
#define LLM_VERSION_H
#define LLMSIM_VERSION "0.1.0"
#endif
