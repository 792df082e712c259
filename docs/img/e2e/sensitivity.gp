# gnuplot sensitivity.gp: llmsim's TTFT p90 against iteration time, per run
set terminal pngcairo size 1100,750 noenhanced
set output 'sensitivity.png'
set title 'TTFT p90 change when every iteration takes longer'
set xlabel 'iteration time change (%)'
set ylabel 'TTFT p90 change (%)'
set key outside right font ',8'
set grid
plot for [i=0:29] 'sensitivity.dat' index i with linespoints title columnheader(1), x title 'proportional' dashtype 2 lc rgb 'black'
