/** The package every plugin here belongs to, for "package:name" references. */
export const DATASETS_PACKAGE = '@genview/datasets';

/**
 * These datasets lived in @genview/views in 0.1; configs that qualify them the old way
 * ("@genview/views:fashion-mnist") keep resolving, with a deprecation warning from the registry.
 */
export const FORMER_DATASET_PACKAGES: readonly string[] = ['@genview/views'];
