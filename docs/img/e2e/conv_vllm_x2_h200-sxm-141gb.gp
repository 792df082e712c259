# gnuplot 'conv_vllm_x2_h200-sxm-141gb.gp': measured vs simulated latency CDFs
set terminal pngcairo size 1500,450 noenhanced
set output 'conv_vllm_x2_h200-sxm-141gb.png'
set multiplot layout 1,3 title 'conv_vllm_x2_h200-sxm-141gb'
set key bottom right
set ylabel 'CDF'
set xlabel 'TTFT (ms)'
plot 'conv_vllm_x2_h200-sxm-141gb.dat' index 0 with lines title 'measured', '' index 1 with lines dashtype 2 title 'llmsim'
set xlabel 'TPOT (ms)'
plot 'conv_vllm_x2_h200-sxm-141gb.dat' index 2 with lines title 'measured', '' index 3 with lines dashtype 2 title 'llmsim'
set xlabel 'E2E latency (ms)'
plot 'conv_vllm_x2_h200-sxm-141gb.dat' index 4 with lines title 'measured', '' index 5 with lines dashtype 2 title 'llmsim'
unset multiplot
