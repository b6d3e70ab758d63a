package dev.tailor;

import static com.tngtech.archunit.library.Architectures.layeredArchitecture;

import com.tngtech.archunit.core.domain.JavaClasses;
import com.tngtech.archunit.core.importer.ClassFileImporter;
import com.tngtech.archunit.core.importer.ImportOption;
import org.junit.jupiter.api.Test;

/** ARCHITECTURE.md's layers: tensor -> model -> data -> train -> eval -> serve -> cli, dependencies pointing down only. */
class LayersTest {
    @Test
    void dependenciesPointDownOnly() {
        JavaClasses classes = new ClassFileImporter()
                .withImportOption(ImportOption.Predefined.DO_NOT_INCLUDE_TESTS)
                .importPackages("dev.tailor");
        layeredArchitecture().consideringOnlyDependenciesInLayers().withOptionalLayers(true)
                .layer("tensor").definedBy("dev.tailor.tensor..")
                .layer("model").definedBy("dev.tailor.model..")
                .layer("data").definedBy("dev.tailor.data..")
                .layer("train").definedBy("dev.tailor.train..")
                .layer("eval").definedBy("dev.tailor.eval..")
                .layer("serve").definedBy("dev.tailor.serve..")
                .layer("cli").definedBy("dev.tailor.cli..")
                .whereLayer("cli").mayNotBeAccessedByAnyLayer()
                .whereLayer("serve").mayOnlyBeAccessedByLayers("cli")
                .whereLayer("eval").mayOnlyBeAccessedByLayers("serve", "cli")
                .whereLayer("train").mayOnlyBeAccessedByLayers("eval", "serve", "cli")
                .whereLayer("data").mayOnlyBeAccessedByLayers("train", "eval", "serve", "cli")
                .whereLayer("model").mayOnlyBeAccessedByLayers("data", "train", "eval", "serve", "cli")
                .check(classes);
    }
}
