"""vqaloop.w2s"""
