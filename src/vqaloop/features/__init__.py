"""vqaloop.features"""
