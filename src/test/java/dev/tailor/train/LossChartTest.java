package dev.tailor.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The chart is a real PNG of the promised size, written atomically, for full and empty series. */
class LossChartTest {
    @TempDir
    Path dir;

    @Test
    void writesADecodablePngAndReplacesItOnTheNextWrite() throws IOException {
        Path png = dir.resolve("charts/loss.png"); // the directory does not exist yet
        List<double[]> train = new ArrayList<>();
        for (int step = 1; step <= 50; step++) {
            train.add(new double[] {step, 3.0 * Math.exp(-step / 20.0) + 0.5});
        }
        List<double[]> valid = List.of(new double[] {10, 2.4}, new double[] {20, 1.9}, new double[] {30, 1.6});
        LossChart.write(png, "run 1", train.subList(0, 10), List.of());
        byte[] first = Files.readAllBytes(png);
        LossChart.write(png, "run 1", train, valid);
        byte[] second = Files.readAllBytes(png);
        assertFalse(Arrays.equals(first, second), "the second write must replace the first chart");
        BufferedImage image = ImageIO.read(png.toFile());
        assertEquals(LossChart.WIDTH, image.getWidth());
        assertEquals(LossChart.HEIGHT, image.getHeight());
        assertTrue(distinctColours(image) > 3, "the chart must draw something");
        try (Stream<Path> files = Files.list(png.getParent())) {
            assertEquals(List.of(png), files.toList(), "no temporary file may remain");
        }
    }

    @Test
    void emptySeriesStillGiveAChart() throws IOException {
        Path png = dir.resolve("empty.png");
        LossChart.write(png, "nothing yet", List.of(), List.of());
        BufferedImage image = ImageIO.read(png.toFile());
        assertEquals(LossChart.WIDTH, image.getWidth());
        assertEquals(LossChart.HEIGHT, image.getHeight());
    }

    private static int distinctColours(BufferedImage image) {
        Set<Integer> colours = new HashSet<>();
        for (int y = 0; y < image.getHeight(); y += 7) {
            for (int x = 0; x < image.getWidth(); x += 7) {
                colours.add(image.getRGB(x, y));
            }
        }
        return colours.size();
    }
}
