package dev.tailor.data;

import java.awt.BasicStroke;
import java.awt.Color;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Map;
import org.jfree.chart.ChartFactory;
import org.jfree.chart.ChartUtils;
import org.jfree.chart.JFreeChart;
import org.jfree.chart.axis.NumberAxis;
import org.jfree.chart.plot.CategoryPlot;
import org.jfree.chart.plot.PlotOrientation;
import org.jfree.chart.plot.ValueMarker;
import org.jfree.chart.plot.XYPlot;
import org.jfree.chart.renderer.category.BarRenderer;
import org.jfree.chart.renderer.category.StandardBarPainter;
import org.jfree.chart.renderer.xy.StandardXYBarPainter;
import org.jfree.chart.renderer.xy.XYBarRenderer;
import org.jfree.chart.ui.RectangleAnchor;
import org.jfree.chart.ui.TextAnchor;
import org.jfree.data.category.DefaultCategoryDataset;
import org.jfree.data.xy.DefaultIntervalXYDataset;

/** The data report's charts as PNG bytes, rendered off-screen, for embedding in the HTML as data URLs. */
final class ReportCharts {
    static {
        if (System.getProperty("java.awt.headless") == null) {
            System.setProperty("java.awt.headless", "true"); // must precede the first AWT use
        }
    }

    static final int WIDTH = 900;
    static final int HEIGHT = 360;
    private static final Color BAR = new Color(0x1f77b4);
    private static final Color LIMIT = new Color(0xd62728);

    private ReportCharts() {}

    /** The length histogram; maxSeqLen (null: none) is drawn as a vertical line when the lengths are tokens. */
    static byte[] lengths(String title, LengthHistogram histogram, Integer maxSeqLen) {
        int bins = histogram.counts().length;
        double[][] series = new double[6][bins]; // x, start x, end x, y, start y, end y
        for (int i = 0; i < bins; i++) {
            double start = (double) i * histogram.binWidth();
            series[0][i] = start + histogram.binWidth() / 2.0;
            series[1][i] = start;
            series[2][i] = start + histogram.binWidth();
            series[3][i] = histogram.counts()[i];
            series[5][i] = histogram.counts()[i];
        }
        DefaultIntervalXYDataset data = new DefaultIntervalXYDataset();
        data.addSeries("examples", series);
        JFreeChart chart = ChartFactory.createXYBarChart(title, histogram.unit() + " per example (bins of " + histogram.binWidth() + ")",
                false, "examples", data, PlotOrientation.VERTICAL, false, false, false);
        XYPlot plot = chart.getXYPlot();
        style(chart);
        plot.setDomainGridlinePaint(Color.LIGHT_GRAY);
        plot.setRangeGridlinePaint(Color.LIGHT_GRAY);
        plot.getRangeAxis().setStandardTickUnits(NumberAxis.createIntegerTickUnits());
        XYBarRenderer renderer = (XYBarRenderer) plot.getRenderer();
        renderer.setBarPainter(new StandardXYBarPainter());
        renderer.setShadowVisible(false);
        renderer.setSeriesPaint(0, BAR);
        renderer.setDrawBarOutline(true);
        renderer.setSeriesOutlinePaint(0, Color.WHITE);
        double end = (double) bins * histogram.binWidth();
        if (maxSeqLen != null && histogram.unit().equals("tokens")) {
            ValueMarker limit = new ValueMarker(maxSeqLen, LIMIT, new BasicStroke(2f));
            limit.setLabel("--max-seq-len " + maxSeqLen);
            limit.setLabelPaint(LIMIT);
            limit.setLabelAnchor(RectangleAnchor.TOP_LEFT);
            limit.setLabelTextAnchor(TextAnchor.TOP_RIGHT);
            plot.addDomainMarker(limit);
            end = Math.max(end, maxSeqLen * 1.05);
        }
        plot.getDomainAxis().setRange(0, end);
        return png(chart);
    }

    /** Horizontal bars: the most common answers, then the rest as one bar (others == 0: none). */
    static byte[] answers(String title, Map<String, Integer> top, int others) {
        DefaultCategoryDataset data = new DefaultCategoryDataset();
        top.forEach((answer, count) -> data.addValue(count, "examples", label(answer)));
        if (others > 0) {
            data.addValue(others, "examples", "(all other answers)");
        }
        JFreeChart chart = ChartFactory.createBarChart(title, "answer", "examples", data, PlotOrientation.HORIZONTAL,
                false, false, false);
        style(chart);
        CategoryPlot plot = chart.getCategoryPlot();
        plot.setRangeGridlinePaint(Color.LIGHT_GRAY);
        plot.getRangeAxis().setStandardTickUnits(NumberAxis.createIntegerTickUnits());
        BarRenderer renderer = (BarRenderer) plot.getRenderer();
        renderer.setBarPainter(new StandardBarPainter());
        renderer.setShadowVisible(false);
        renderer.setSeriesPaint(0, BAR);
        return png(chart);
    }

    /** Category labels must be distinct and short: the answer on one line, abbreviated. */
    private static String label(String answer) {
        String line = answer.replaceAll("\\s+", " ");
        return "\"" + (line.length() <= 30 ? line : line.substring(0, 27) + "...") + "\"";
    }

    private static void style(JFreeChart chart) {
        chart.setBackgroundPaint(Color.WHITE);
        chart.getPlot().setBackgroundPaint(Color.WHITE);
    }

    private static byte[] png(JFreeChart chart) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try {
            ChartUtils.writeChartAsPNG(out, chart, WIDTH, HEIGHT);
        } catch (IOException e) {
            throw new UncheckedIOException(e); // a byte array does not fail
        }
        return out.toByteArray();
    }
}
