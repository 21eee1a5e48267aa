import { type Backbone, type FeatureExtractor, type Tensor2D, type Tensor3D, type Tensor4D, tf } from '@genview/core';

/**
 * Wraps a backbone as the frozen-encoder contract quality scorers and evaluators take: always eval mode
 * (batch norm uses running statistics, nothing is updated). Patch tokens are the backbone's feature map
 * flattened to [N, h·w, D], offered only when the backbone has one.
 */
export function asFeatureExtractor(backbone: Backbone): FeatureExtractor {
  const eval_ = { training: false };
  const extractor: FeatureExtractor = {
    featureDim: backbone.featureDim,
    embed(images: Tensor4D): Tensor2D {
      return tf.tidy(() => backbone.apply(images, eval_) as Tensor2D);
    },
  };
  const featureMap = backbone.featureMap?.bind(backbone);
  if (featureMap) {
    return {
      ...extractor,
      patchTokens(images: Tensor4D): Tensor3D {
        return tf.tidy(() => {
          const map = featureMap(images, eval_);
          const [n, h, w, d] = map.shape;
          return tf.reshape(map, [n, h * w, d]) as Tensor3D;
        });
      },
    };
  }
  return extractor;
}
