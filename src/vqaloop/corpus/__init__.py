"""vqaloop.corpus"""
