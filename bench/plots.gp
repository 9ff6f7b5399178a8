# The bench's two figures, from the data files `troupe_bench --plots DIR`
# writes (bench/plots.hpp says which). troupe_bench runs it as
#   gnuplot -e "dir='DIR'; label='...'; hop=1; e2e=1" bench/plots.gp
# and it can be run again by hand on the same DIR to redraw.

if (!exists("dir")) dir = "."
if (!exists("label")) label = ""
if (!exists("hop")) hop = 1
if (!exists("e2e")) e2e = 1

# pngcairo draws smoother lines and text; Debian's gnuplot-nox has both.
if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
  set terminal pngcairo size 1000,640 enhanced font "DejaVu Sans,11" linewidth 1.5
} else {
  set terminal png size 1000,640 enhanced font "DejaVu Sans,11"
}

set grid xtics ytics mxtics mytics lc rgb "#dddddd" lt 1
set border 3
set tics nomirror
set datafile commentschars "#"

if (hop) {
  # Percentiles against the rate asked of the producer, each line the
  # median over the runs at that rate, the small dots every run's own
  # figure. PutEvents answers only once it is committed, so past what the
  # nodes take the producer falls behind: where it put less than 95% of
  # the rate asked, the rate it put is written upright above the axis.
  set output dir."/hop-latency.png"
  set title "troupe single hop: latency from PutEvents to the handler on the other node (durability os)\n{/*0.8 ".label."}"
  set xlabel "rate asked of the producer (events/s, log scale)"
  set ylabel "latency (ms, log scale)"
  set logscale xy
  set format x "%.0s%c"
  set format y "%g"
  set key top left box opaque
  med = dir."/hop-latency-median.dat"
  all = dir."/hop-latency.dat"
  behind(asked, put) = put < 0.95 * asked ? sprintf("put %.1fk/s", put / 1000) : ""
  stats med using 1 nooutput
  set xrange [STATS_min / 1.3 : STATS_max * 1.3]
  plot med using 1:4:xtic(sprintf("%gk", $1 / 1000)) with linespoints lw 2 pt 7 ps 1.0 lc rgb "#1b9e77" title "p50", \
       med using 1:5 with linespoints lw 2 pt 5 ps 1.0 lc rgb "#7570b3" title "p90", \
       med using 1:6 with linespoints lw 2 pt 9 ps 1.2 lc rgb "#d95f02" title "p99", \
       med using 1:7 with linespoints lw 2 pt 11 ps 1.2 lc rgb "#e7298a" title "p99.9", \
       med using 1:8 with linespoints lw 1 dt 2 pt 13 ps 1.0 lc rgb "#666666" title "max", \
       all using 1:4 with points pt 7 ps 0.4 lc rgb "#1b9e77" notitle, \
       all using 1:5 with points pt 5 ps 0.4 lc rgb "#7570b3" notitle, \
       all using 1:6 with points pt 9 ps 0.5 lc rgb "#d95f02" notitle, \
       all using 1:7 with points pt 11 ps 0.5 lc rgb "#e7298a" notitle, \
       all using 1:8 with points pt 13 ps 0.4 lc rgb "#666666" notitle, \
       med using 1:(0.12):(behind($1, $2)) with labels rotate by 90 left offset 0.7,0 font ",9" notitle
  unset logscale
  unset xrange
  set xtics auto
  set format x "% h"
  set format y "% h"
  unset output
}

if (e2e) {
  # A bar per durability level: the median over the runs, the whiskers the
  # slowest and fastest run, each run a dot beside its bar.
  set output dir."/bookings-durability.png"
  set title "troupe end to end: the five-service flight saga, bookings put all at once\n{/*0.8 ".label."}"
  set xlabel "durability of every node's store"
  set ylabel "bookings/s (first PutEvents to the last booking final)"
  set style fill solid 0.55 border -1
  set boxwidth 0.55
  stats dir."/bookings-durability.dat" using 1 nooutput
  set xrange [-0.6:STATS_max + 0.6]
  stats dir."/bookings-durability.dat" using 5 nooutput
  set yrange [0:STATS_max * 1.3]
  set xtics scale 0
  set grid noxtics ytics
  set key top left box opaque
  bars = dir."/bookings-durability.dat"
  runs = dir."/bookings-runs.dat"
  plot bars using 1:3:xtic(2) with boxes lc rgb "#4a7ab5" title "median of the runs", \
       bars using 1:3:4:5 with yerrorbars lc rgb "black" pt 0 lw 1.5 title "slowest to fastest run", \
       runs using ($1 + 0.36):3 with points pt 7 ps 0.8 lc rgb "#d95f02" title "each run", \
       bars using 1:5:(sprintf("%.0f/s (%d runs)", $3, $7)) with labels offset 0,1.2 font ",10" notitle
  unset output
}
