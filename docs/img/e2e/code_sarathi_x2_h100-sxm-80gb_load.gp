# gnuplot code_sarathi_x2_h100-sxm-80gb_load.gp: load over time, measured vs llmsim
set terminal pngcairo size 1200,700 noenhanced
set output 'code_sarathi_x2_h100-sxm-80gb_load.png'
set multiplot layout 2,1 title 'code_sarathi_x2_h100-sxm-80gb: load over time'
set key top right
set xlabel 'time (s)'
set ylabel 'share of the second in iterations'
set yrange [0:1.05]
plot 'code_sarathi_x2_h100-sxm-80gb_load.dat' using 1:2 with steps title 'measured', '' using 1:4 with steps dashtype 2 title 'llmsim'
set ylabel 'requests awaiting a first token'
set yrange [0:*]
plot 'code_sarathi_x2_h100-sxm-80gb_load.dat' using 1:3 with steps title 'measured', '' using 1:5 with steps dashtype 2 title 'llmsim'
unset multiplot
