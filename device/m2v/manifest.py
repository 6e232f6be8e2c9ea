metadata(version="0.1.0", description="Model2Vec static text embeddings for MicroPython")
package("m2v", opt=3)
