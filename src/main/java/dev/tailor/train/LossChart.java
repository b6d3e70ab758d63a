package dev.tailor.train;

import dev.tailor.AtomicFiles;
import java.awt.BasicStroke;
import java.awt.Color;
import java.nio.file.Path;
import java.util.List;
import org.jfree.chart.ChartFactory;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.plot.PlotOrientation;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.xy.XYLineAndShapeRenderer;
import org.jfree.data.xy.XYSeries;
import org.jfree.data.xy.XYSeriesCollection;

/** The loss curves of a training run as a PNG: train loss as a line, validation loss as a line with markers. */
public final class LossChart {
    public static final int WIDTH = 1000;
    public static final int HEIGHT = 600;

    private LossChart() {}

    /**
     * Writes the chart to {@code png} atomically (replacing an existing file). Each point is
     * {@code {step, loss}}; either list may be empty. Rendering is off-screen, so it works on
     * machines without a display.
     */
    public static void write(Path png, String title, List<double[]> trainPoints, List<double[]> validPoints) {
        if (System.getProperty("java.awt.headless") == null) {
            System.setProperty("java.awt.headless", "true"); // must precede the first AWT use
        }
        XYSeriesCollection data = new XYSeriesCollection();
        data.addSeries(series("train loss", trainPoints));
        data.addSeries(series("validation loss", validPoints));
        JFreeChart chart = ChartFactory.createXYLineChart(title, "step", "loss", data, PlotOrientation.VERTICAL,
                true, false, false);
        XYPlot plot = chart.getXYPlot();
        plot.setBackgroundPaint(Color.WHITE);
        plot.setDomainGridlinePaint(Color.LIGHT_GRAY);
        plot.setRangeGridlinePaint(Color.LIGHT_GRAY);
        plot.getDomainAxis().setStandardTickUnits(NumberAxis.createIntegerTickUnits());
        ((NumberAxis) plot.getRangeAxis()).setAutoRangeIncludesZero(false);
        XYLineAndShapeRenderer renderer = new XYLineAndShapeRenderer();
        renderer.setSeriesPaint(0, new Color(0x1f77b4));
        renderer.setSeriesShapesVisible(0, false);
        renderer.setSeriesStroke(0, new BasicStroke(1.5f));
        renderer.setSeriesPaint(1, new Color(0xff7f0e));
        renderer.setSeriesShapesVisible(1, true);
        renderer.setSeriesStroke(1, new BasicStroke(2f));
        plot.setRenderer(renderer);
        AtomicFiles.write(png, out -> ChartUtils.writeChartAsPNG(out, chart, WIDTH, HEIGHT));
    }

    private static XYSeries series(String name, List<double[]> points) {
        XYSeries series = new XYSeries(name, false, true); // keep the order given, allow repeated steps
        for (double[] point : points) {
            if (point.length != 2) {
                throw new IllegalArgumentException(name + " point must be {step, loss}, got " + point.length + " values");
            }
            series.add(point[0], point[1]);
        }
        return series;
    }
}
