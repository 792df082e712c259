# gnuplot 'conv_vllm_x1_h100-sxm-80gb_repeat.gp': measured vs simulated latency CDFs
set terminal pngcairo size 1500,450 noenhanced
set output 'conv_vllm_x1_h100-sxm-80gb_repeat.png'
set multiplot layout 1,3 title 'conv_vllm_x1_h100-sxm-80gb_repeat'
set key bottom right
set ylabel 'CDF'
set xlabel 'TTFT (ms)'
plot 'conv_vllm_x1_h100-sxm-80gb_repeat.dat' index 0 with lines title 'measured', '' index 1 with lines dashtype 2 title 'llmsim'
set xlabel 'TPOT (ms)'
plot 'conv_vllm_x1_h100-sxm-80gb_repeat.dat' index 2 with lines title 'measured', '' index 3 with lines dashtype 2 title 'llmsim'
set xlabel 'E2E latency (ms)'
plot 'conv_vllm_x1_h100-sxm-80gb_repeat.dat' index 4 with lines title 'measured', '' index 5 with lines dashtype 2 title 'llmsim'
unset multiplot
